package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/backup/scanner"
)

// newBackupScannerCommand turns the running server's real-time scanner off
// and on (Zimbra's ZxBackup_RealTimeScanner). While it is off the server
// keeps the redo records and blobs the scanner has not shipped; turning it
// on runs a SmartScan before tailing resumes.
func newBackupScannerCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:       "scanner on|off",
		Short:     "Turn the running server's real-time backup scanner on or off",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"on", "off"},
		RunE: func(c *cobra.Command, args []string) error {
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
			default:
				return usagef("scanner takes on or off, not %q", args[0])
			}
			var st scanner.Status
			if err := callAdmin(c.Context(), dataDir, "backup.scanner", map[string]bool{"enabled": on}, &st); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "scanner %s (shipped lsn %d)\n", st.State, st.ShippedLSN)
			return nil
		},
	}
	dataDirFlag(cmd, &dataDir)
	return cmd
}
