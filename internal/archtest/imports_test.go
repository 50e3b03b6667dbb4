package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tidemark/tidemark"

// allowed lists, for each project package, the project packages it may
// import (docs/ARCHITECTURE.md, "Packages"). A prefix ending in "/" allows
// every package under it. Packages not listed (cmd/, bench/) may import
// anything; nothing may import cmd/.
var allowed = map[string][]string{
	"mailserver/imap":            {"engine", "engine/event", "internal/mimetree", "internal/inflate"},
	"mailserver/lmtp":            {"engine", "engine/event"},
	"mailserver/socketmap":       {"engine", "engine/event"},
	"importer":                   {"engine", "engine/event", "dedup", "internal/"},
	"restore":                    {"engine", "engine/event", "backup/repository", "backup/catalog", "dedup", "hsm", "hsm/volopen", "redolog", "internal/"},
	"restore/view":               {"engine", "engine/event", "backup/repository", "backup/catalog", "restore", "dedup", "internal/"},
	"restore/internal/oracle":    {"engine", "engine/event", "backup/repository", "backup/catalog", "backup/scanner", "backup/enginesrc", "dedup", "hsm", "hsm/memvol"},
	"backup/enginesrc":           {"engine", "backup", "backup/repository", "backup/scanner", "engine/event", "dedup", "hsm"},
	"backup":                     {"backup/repository", "backup/catalog", "backup/maint", "backup/scanner", "engine/event", "dedup", "hsm", "redolog", "internal/"},
	"backup/scanner":             {"backup/repository", "backup/catalog", "backup/maint", "backup/internal/tune", "engine/event", "dedup", "hsm", "redolog", "internal/"},
	"backup/maint":               {"backup/repository", "backup/catalog", "engine/event", "dedup", "hsm", "internal/"},
	"backup/repository":          {"backup/internal/tune", "engine/event", "dedup", "hsm", "hsm/cryptvol", "redolog", "internal/"},
	"backup/catalog":             {"backup/repository", "engine/event", "dedup", "redolog", "internal/"},
	"backup/internal/tune":       {},
	"backup/internal/backuptest": {"engine", "backup/repository", "backup/catalog", "backup/scanner", "backup/enginesrc", "backup/internal/tune", "hsm", "hsm/localvol"},
	"engine":                     {"engine/event", "redolog", "dedup", "hsm", "hsm/volopen", "internal/"},
	"engine/event":               {"internal/corrupt"},
	"redolog":                    {"internal/vfsutil", "internal/corrupt"},
	"dedup":                      {"internal/corrupt"},
	"hsm":                        {"internal/corrupt"},
	"hsm/packvol":                {"hsm", "hsm/localvol", "internal/vfsutil", "internal/corrupt"},
	"hsm/localvol":               {"hsm", "internal/vfsutil"},
	"hsm/cryptvol":               {"hsm", "internal/corrupt"},
	"hsm/s3vol":                  {"hsm"},
	"hsm/policy":                 {},
	"hsm/cachevol":               {"hsm"},
	"hsm/volopen":                {"hsm", "hsm/localvol", "hsm/packvol", "internal/datadir"},
	"hsm/memvol":                 {"hsm"},
	"hsm/volumetest":             {"hsm"},
	"operations":                 {},
	"operations/enginemail":      {"engine", "operations"},
	"web":                        {"operations"},
	"internal/crashfs":           {},
	"internal/corrupt":           {},
	"internal/vfsutil":           {},
	"internal/datadir":           {},
	"internal/timearg":           {},
	"internal/testcorpus":        {},
	"internal/mimetree":          {},
	"internal/inflate":           {},
	"internal/dovecottest":       {},
}

// onlyImporter names third-party modules that one project package alone may
// import.
var onlyImporter = map[string]string{
	"github.com/minio/minio-go/v7":        "hsm/s3vol",
	"github.com/prometheus/client_golang": "web",
}

type pkg struct {
	path    string
	imports []string
}

// listPackages reads the import clauses of every non-test Go file under the
// module root. It reads the files itself, rather than asking go list, so
// the test cache notices when any of them changes.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	root := "../.."
	byDir := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		ip := module
		if rel != "." {
			ip += "/" + filepath.ToSlash(rel)
		}
		if byDir[ip] == nil {
			byDir[ip] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return err
			}
			byDir[ip][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	for ip, imps := range byDir {
		p := pkg{path: ip}
		for im := range imps {
			p.imports = append(p.imports, im)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func permits(rules []string, dep string) bool {
	for _, r := range rules {
		if strings.HasSuffix(r, "/") && strings.HasPrefix(dep, r) || dep == r {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.path, module), "/")
		rules, ruled := allowed[rel]
		for _, imp := range p.imports {
			for mod, owner := range onlyImporter {
				if (imp == mod || strings.HasPrefix(imp, mod+"/")) && rel != owner {
					t.Errorf("%s imports %s; only %s may (docs/ARCHITECTURE.md)", rel, imp, owner)
				}
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if strings.HasPrefix(dep, "cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd/", rel, dep)
			}
			if ruled && !permits(rules, dep) {
				t.Errorf("%s imports %s, against docs/ARCHITECTURE.md", rel, dep)
			}
		}
	}
}

// TestEveryPackageRuled makes a new package take a line in the rules (and in
// docs/ARCHITECTURE.md) instead of escaping them.
func TestEveryPackageRuled(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.path, module), "/")
		if rel == "" || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "bench/") ||
			strings.HasPrefix(rel, "internal/archtest") || strings.HasSuffix(rel, "/s3test") {
			continue
		}
		if _, ok := allowed[rel]; !ok {
			t.Errorf("package %s has no import rule: add it to docs/ARCHITECTURE.md and internal/archtest", rel)
		}
	}
}
