package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
)

func init() { commands = append(commands, newVolumeCommand) }

// volumeFlags are the settings of a volume on the command line. Keys are
// not among them: S3 keys come from the environment (volume_wiring.go).
type volumeFlags struct {
	kind, typ, path, layout                     string
	compress                                    bool
	threshold                                   int
	endpoint, region, bucket, prefix, storClass string
	tls                                         bool
}

func (f *volumeFlags) bind(c *cobra.Command, create bool) {
	fl := c.Flags()
	fl.StringVar(&f.kind, "kind", hsm.KindSecondary, "primary (receives new blobs) or secondary (HSM move target)")
	if create {
		fl.StringVar(&f.typ, "type", hsm.TypeLocal, "local or s3")
		fl.StringVar(&f.path, "path", "", "directory of a local volume (default <data>/volumes/NAME; relative to the data directory)")
		fl.StringVar(&f.layout, "layout", "", "layout of a local volume: packvol or localvol (default: packvol, or what the directory holds)")
		fl.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint host:port")
		fl.StringVar(&f.bucket, "bucket", "", "S3 bucket")
		fl.StringVar(&f.prefix, "prefix", "", "S3 key prefix")
	}
	fl.BoolVar(&f.compress, "compress", false, "compress blobs with zstd from --threshold bytes up")
	fl.IntVar(&f.threshold, "threshold", hsm.DefaultCompressThreshold, "compression threshold in bytes (a blob of exactly this size is compressed)")
	fl.StringVar(&f.region, "region", "", "S3 region (default us-east-1)")
	fl.StringVar(&f.storClass, "storage-class", "", "S3 storage class of new objects")
	fl.BoolVar(&f.tls, "tls", false, "S3 over https")
}

// apply sets on s the flags given on c (all of them for create).
func (f *volumeFlags) apply(c *cobra.Command, s *hsm.Spec, create bool) {
	ch := func(n string) bool { return create || c.Flags().Changed(n) }
	if ch("kind") {
		s.Kind = f.kind
	}
	if create {
		s.Type, s.Path, s.Layout = f.typ, f.path, f.layout
		if s.Type == hsm.TypeS3 {
			s.S3 = &hsm.S3Spec{Endpoint: f.endpoint, Bucket: f.bucket, Prefix: f.prefix}
		}
	}
	if ch("compress") {
		s.Compress = f.compress
	}
	if ch("threshold") {
		s.Threshold = f.threshold
	}
	if s.S3 != nil {
		if ch("region") {
			s.S3.Region = f.region
		}
		if ch("storage-class") {
			s.S3.StorageClass = f.storClass
		}
		if ch("tls") {
			s.S3.TLS = f.tls
		}
	}
}

func newVolumeCommand() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{Use: "volume", Short: "Register, list, change and delete blob volumes (local directories and S3 buckets)"}
	cmd.PersistentFlags().StringVar(&dataDir, "data", "./tidemark-data", "data directory")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	show := func(c *cobra.Command, vs []engine.VolumeInfo) error {
		if asJSON {
			return printJSON(c.OutOrStdout(), vs)
		}
		rows := make([][]string, len(vs))
		for i, v := range vs {
			cur, comp, where := "", "off", v.Path
			if v.Current {
				cur = "yes"
			}
			if v.Compress {
				comp = strconv.Itoa(v.Spec.CompressThreshold())
			}
			if v.Type == hsm.TypeLocal {
				if where == "" {
					where = "volumes/" + v.Name
				}
				where += " (" + v.Layout + ")"
			} else if v.S3 != nil {
				where = "s3://" + v.S3.Endpoint + "/" + v.S3.Bucket + "/" + v.S3.Prefix
			}
			rows[i] = []string{v.Name, v.Kind, v.Type, cur, comp, where}
		}
		return table(c.OutOrStdout(), []string{"VOLUME", "KIND", "TYPE", "CURRENT", "COMPRESS", "WHERE"}, rows)
	}

	var cf volumeFlags
	create := &cobra.Command{
		Use: "create NAME", Short: "Register a volume (S3 keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s := hsm.Spec{Name: args[0]}
			cf.apply(c, &s, true)
			if err := s.Validate(); err != nil {
				return usagef("%v", err)
			}
			return callAdmin(c.Context(), dataDir, "volume.create", s, nil)
		},
	}
	cf.bind(create, true)
	cmd.AddCommand(create)

	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the volumes", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var vs []engine.VolumeInfo
			if err := callAdmin(c.Context(), dataDir, "volume.list", nil, &vs); err != nil {
				return err
			}
			return show(c, vs)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show NAME", Short: "Show a volume", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var v engine.VolumeInfo
			if err := callAdmin(c.Context(), dataDir, "volume.show", nameArgs{Name: args[0]}, &v); err != nil {
				return err
			}
			return show(c, []engine.VolumeInfo{v})
		},
	})
	var mf volumeFlags
	modify := &cobra.Command{
		Use: "modify NAME", Short: "Change a volume's kind, compression or S3 storage class, region or TLS", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var v engine.VolumeInfo
			if err := callAdmin(c.Context(), dataDir, "volume.show", nameArgs{Name: args[0]}, &v); err != nil {
				return err
			}
			s := v.Spec
			mf.apply(c, &s, false)
			return callAdmin(c.Context(), dataDir, "volume.modify", s, nil)
		},
	}
	mf.bind(modify, false)
	cmd.AddCommand(modify)
	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete an empty volume from the registry (its files or objects are left)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return callAdmin(c.Context(), dataDir, "volume.delete", nameArgs{Name: args[0]}, nil)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "set-current NAME", Short: "Make a volume the current primary (new blobs, at once on a running server) or secondary (HSM moves)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := callAdmin(c.Context(), dataDir, "volume.set-current", nameArgs{Name: args[0]}, nil); err != nil {
				return err
			}
			var v engine.VolumeInfo
			if err := callAdmin(c.Context(), dataDir, "volume.show", nameArgs{Name: args[0]}, &v); err == nil && v.Kind == hsm.KindPrimary && !asJSON {
				fmt.Fprintf(c.OutOrStdout(), "%s is the current primary: new blobs go to it now; blobs on the previous primary stay there and stay readable\n", v.Name)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "stats", Short: "Per volume: blobs, bytes, stored bytes and free space", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var st []engine.VolumeStats
			if err := callAdmin(c.Context(), dataDir, "volume.stats", nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), st)
			}
			rows := make([][]string, len(st))
			for i, s := range st {
				free := "-"
				if s.FreeBytes >= 0 {
					free = formatBytes(s.FreeBytes)
				}
				stored := formatBytes(s.StoredBytes)
				if s.Error != "" {
					stored = "error: " + s.Error
				}
				rows[i] = []string{s.Name, s.Kind, strconv.FormatInt(s.Blobs, 10), formatBytes(s.Bytes), stored, free}
			}
			return table(c.OutOrStdout(), []string{"VOLUME", "KIND", "BLOBS", "BYTES", "STORED", "FREE"}, rows)
		},
	})
	cmd.AddCommand(newVolumeTestS3Command(&asJSON))
	return cmd
}

// s3Check is what volume test-s3 found.
type s3Check struct {
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix,omitempty"`
	OK       bool   `json:"ok"`
	Steps    []struct {
		Step  string `json:"step"`
		Error string `json:"error,omitempty"`
		Ms    int64  `json:"ms"`
	} `json:"steps"`
}

func newVolumeTestS3Command(asJSON *bool) *cobra.Command {
	var f volumeFlags
	c := &cobra.Command{
		Use:   "test-s3",
		Short: "Check an S3 bucket before registering it: put, stat, read, list and delete a probe object",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s := hsm.Spec{Name: "test-s3", Kind: hsm.KindSecondary, Type: hsm.TypeS3,
				S3: &hsm.S3Spec{Endpoint: f.endpoint, Bucket: f.bucket, Prefix: f.prefix, Region: f.region, TLS: f.tls, StorageClass: f.storClass}}
			if err := s.Validate(); err != nil {
				return usagef("%v", err)
			}
			rep := s3Check{Endpoint: f.endpoint, Bucket: f.bucket, Prefix: f.prefix}
			err := testS3(c.Context(), s, &rep)
			rep.OK = err == nil
			if *asJSON {
				if perr := printJSON(c.OutOrStdout(), rep); perr != nil {
					return perr
				}
			} else {
				for _, st := range rep.Steps {
					res := "ok"
					if st.Error != "" {
						res = st.Error
					}
					fmt.Fprintf(c.OutOrStdout(), "%-8s %5d ms  %s\n", st.Step, st.Ms, res)
				}
			}
			if err != nil {
				return fmt.Errorf("s3://%s/%s/%s is not usable: %w", f.endpoint, f.bucket, f.prefix, err)
			}
			if !*asJSON {
				fmt.Fprintf(c.OutOrStdout(), "s3://%s/%s/%s is usable\n", f.endpoint, f.bucket, f.prefix)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint host:port")
	fl.StringVar(&f.bucket, "bucket", "", "S3 bucket")
	fl.StringVar(&f.prefix, "prefix", "", "S3 key prefix")
	fl.StringVar(&f.region, "region", "", "S3 region (default us-east-1)")
	fl.StringVar(&f.storClass, "storage-class", "", "S3 storage class of the probe object")
	fl.BoolVar(&f.tls, "tls", false, "S3 over https")
	return c
}

// testS3 runs the probe steps, each with its own deadline, and stops at
// the first failure.
func testS3(ctx context.Context, s hsm.Spec, rep *s3Check) error {
	name := fmt.Sprintf("tidemark-test-s3/%d", time.Now().UnixNano())
	probe := []byte("tidemark volume test-s3 probe\n")
	var v hsm.Volume
	step := func(n string, f func(ctx context.Context) error) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		err := f(sctx)
		rep.Steps = append(rep.Steps, struct {
			Step  string `json:"step"`
			Error string `json:"error,omitempty"`
			Ms    int64  `json:"ms"`
		}{n, errString(err), time.Since(t0).Milliseconds()})
		return err
	}
	steps := []struct {
		n string
		f func(ctx context.Context) error
	}{
		{"open", func(ctx context.Context) (err error) { v, err = openS3Volume(ctx, s, false); return err }},
		{"put", func(ctx context.Context) error { return hsm.PutBytes(ctx, v, name, probe) }},
		{"stat", func(ctx context.Context) error {
			fi, err := v.Stat(ctx, name)
			if err == nil && fi.Size != int64(len(probe)) {
				err = fmt.Errorf("size %d, want %d", fi.Size, len(probe))
			}
			return err
		}},
		{"get", func(ctx context.Context) error {
			b, err := hsm.ReadAll(ctx, v, name)
			if err == nil && !bytes.Equal(b, probe) {
				err = fmt.Errorf("read back other bytes than written")
			}
			return err
		}},
		{"list", func(ctx context.Context) error {
			found := false
			err := v.List(ctx, "tidemark-test-s3/", func(oi hsm.ObjectInfo) error {
				found = found || oi.Name == name
				return nil
			})
			if err == nil && !found {
				err = fmt.Errorf("the probe object is not listed")
			}
			return err
		}},
		{"delete", func(ctx context.Context) error { return v.Delete(ctx, name) }},
	}
	for _, st := range steps {
		if err := step(st.n, st.f); err != nil {
			return fmt.Errorf("%s: %w", st.n, err)
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
