package ledger

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawDB opens the ledger file directly, as someone with file access could.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSQLiteOpenFileErrors: a path that cannot be a ledger file gets a plain
// message, and nothing is created or written.
func TestSQLiteOpenFileErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "somefile")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not sqlite ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		location string
		want     string
	}{
		{filepath.Join(dir, "nope", "ledger.db"), `ledger directory "` + filepath.Join(dir, "nope") + `" does not exist`},
		{filepath.Join(file, "ledger.db"), `cannot write the ledger "` + filepath.Join(file, "ledger.db") + `": "` + file + `" is not a directory`},
		{dir, "is a directory, not a file"},
		{garbage, "is not a SQLite database"},
		{filepath.Join(dir, "what?.db"), `must not contain "?"`},
	}
	for _, tt := range tests {
		l, err := Open(ctx, tt.location)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded", tt.location)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %q, want it to contain %q", tt.location, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
		t.Errorf("Open created the missing directory: %v", err)
	}
	if b, _ := os.ReadFile(garbage); !strings.HasPrefix(string(b), "this is not sqlite") {
		t.Error("Open wrote to a file that is not a ledger")
	}
}

func TestSQLiteOpenUnwritableDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: directory permissions do not stop root; TestSQLiteOpenFileErrors covers a path under a regular file")
	}
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ledger.db")
	_, err := Open(context.Background(), path)
	if err == nil || err.Error() != `cannot write the ledger "`+path+`": permission denied` {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}

func TestSQLiteForeignDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE users (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(ctx, "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), "not a governed ledger") {
		t.Fatalf("Open on another program's database: %v", err)
	}
}

// TestSQLiteOpenExisting: OpenExisting never creates a file; a ledger made
// through "sqlite:PATH" opens again through PATH.
func TestSQLiteOpenExisting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenExisting(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("OpenExisting on a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("OpenExisting created the file")
	}

	path := filepath.Join(dir, "ledger.db")
	l, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenExisting(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	if g, err := l.Grant(ctx, "grt_1"); err != nil || g.Seq != 1 {
		t.Fatalf("after reopen: %+v, %v", g, err)
	}
}
