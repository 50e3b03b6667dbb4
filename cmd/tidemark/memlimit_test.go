package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigMemoryLimit: server.memory_limit is read in bytes, 0 by
// default (the Go runtime's own setting), and a negative value is refused.
func TestConfigMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		toml    string
		want    int64
		wantErr string
	}{
		{"", 0, ""},
		{"[server]\nmemory_limit = 67108864\n", 64 << 20, ""},
		{"[server]\nmemory_limit = -1\n", 0, "server.memory_limit"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, configFile), []byte(tc.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := loadConfig(dir)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("%q: err = %v, want %s", tc.toml, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.toml, err)
		}
		if cfg.Server.MemoryLimit != tc.want {
			t.Fatalf("%q: memory_limit %d, want %d", tc.toml, cfg.Server.MemoryLimit, tc.want)
		}
	}
}
