package pgurl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"postgres://gov:s3cret@db:5432/app":                     "postgres://gov@db:5432/app",
		"postgres://gov@db/app?sslmode=require&password=s3cret": "postgres://gov@db/app",
		"postgresql://gov@db/app?sslpassword=s3cret":            "postgresql://gov@db/app",
		"postgres://gov@db/app":                                 "postgres://gov@db/app",
		"postgres://gov:s3cret@db:port/app":                     "postgres://… (not a valid URL)",
		"postgres://%zz:s3cret@db/app":                          "postgres://… (not a valid URL)",
		"governed.db":                                           "governed.db",
		"sqlite:/var/lib/governed/ledger.db":                    "sqlite:/var/lib/governed/ledger.db",
	}
	for in, want := range cases {
		if got := Redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactError(t *testing.T) {
	for _, raw := range []string{"postgres://gov:s3cret@db/app", "postgres://gov@db/app?password=s3cret"} {
		got := RedactError(errors.New("failed to connect to `user=gov database=app`: password s3cret rejected"), raw)
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactError with %q kept the password: %q", raw, got)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config("postgres://gov@db/app")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnConfig.ConnectTimeout != ConnectTimeout || cfg.ConnConfig.RuntimeParams["application_name"] != ApplicationName {
		t.Fatalf("defaults not applied: timeout %v, application_name %q", cfg.ConnConfig.ConnectTimeout, cfg.ConnConfig.RuntimeParams["application_name"])
	}
	cfg, err = Config("postgres://gov@db/app?connect_timeout=3&application_name=ops")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnConfig.ConnectTimeout != 3*time.Second || cfg.ConnConfig.RuntimeParams["application_name"] != "ops" {
		t.Fatalf("the URL's own settings were overridden: %v, %q", cfg.ConnConfig.ConnectTimeout, cfg.ConnConfig.RuntimeParams["application_name"])
	}
	if _, err := Config("postgres://gov:s3cret@db/app?sslmode=bogus"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Config of a bad URL = %v: want an error without the password", err)
	}
}

func TestSame(t *testing.T) {
	same := [][2]string{
		{"postgres://gov@db:5432/ledger", "postgres://gov:s3cret@db:5432/ledger"},
		{"postgres://gov@db/ledger", "postgresql://gov@DB:5432/ledger"},
		{"postgres://gov@db/ledger?sslmode=require&password=x", "postgres://gov@db/ledger?sslmode=require"},
		{"postgres://gov@db/ledger?sslmode=require&application_name=ci", "postgres://gov@db/ledger?application_name=ci&sslmode=require"},
		{"postgres://gov:%zz@db/x", "postgres://gov:%zz@db/x"},
	}
	for _, p := range same {
		if !Same(p[0], p[1]) || !Same(p[1], p[0]) {
			t.Errorf("Same(%q, %q) = false, want true", p[0], p[1])
		}
	}
	different := [][2]string{
		{"postgres://gov@db/ledger", "postgres://gov@db/scratch"},
		{"postgres://gov@db/ledger", "postgres://gov@other/ledger"},
		{"postgres://gov@db/ledger", "postgres://gov@db:5433/ledger"},
		{"postgres://gov@db/ledger", "postgres://admin@db/ledger"},
		{"postgres://gov@db/ledger", "postgres://gov@db/ledger?options=-csearch_path%3Dscratch"},
		{"postgres://gov@db/ledger", "governed.db"},
		{"postgres://gov:%zz@db/x", "postgres://gov@db/x"},
	}
	for _, p := range different {
		if Same(p[0], p[1]) || Same(p[1], p[0]) {
			t.Errorf("Same(%q, %q) = true, want false", p[0], p[1])
		}
	}
}
