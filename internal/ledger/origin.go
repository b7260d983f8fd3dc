package ledger

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Who ran an operation, as the pipeline says: every event records the actor
// and the run id of the process that appended it. Like EnvLocation they are
// the pipeline's environment, a trusted input; the configuration under review
// cannot set them.
const (
	// EnvActor names who runs the operation: the pipeline's identity (a CI
	// service account, a deploy key) or the person at the terminal.
	EnvActor = "GOVERNED_ACTOR"
	// EnvRunID names the run: a CI job or pipeline id, or anything that finds
	// the run's log again.
	EnvRunID = "GOVERNED_RUN_ID"
)

// ActorFallbacks are read, in order, when EnvActor is unset: what CI
// systems set for who started the run. Where none is set either, the actor
// is the operating-system user and host ("alice@build-7").
var ActorFallbacks = []string{"GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR_EMAIL", "CIRCLE_USERNAME"}

// RunIDFallbacks are read, in order, when EnvRunID is unset: each CI system's
// id of the run. The recorded run id names the variable it came from
// ("GITHUB_RUN_ID=9876"), so that an auditor knows where to look it up.
var RunIDFallbacks = []string{"GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID", "BUILD_BUILDID"}

// maxOriginLen bounds the recorded actor and run id, in bytes.
const maxOriginLen = 256

// Origin is who appends events: the actor and the run id recorded with each.
type Origin struct {
	Actor string `json:"actor,omitempty"`
	RunID string `json:"run_id,omitempty"`
}

// OriginFromEnv reads the origin from the environment through getenv (usually
// os.Getenv): EnvActor, else the first of ActorFallbacks set, else the
// operating-system user and host; EnvRunID, else the first of RunIDFallbacks
// set, as NAME=VALUE, else "". Control characters are dropped and each value
// is cut to 256 bytes: the origin is recorded, never refused, so that it can
// never stop access from being removed.
func OriginFromEnv(getenv func(string) string) Origin {
	var o Origin
	if o.Actor = strings.TrimSpace(getenv(EnvActor)); o.Actor == "" {
		for _, name := range ActorFallbacks {
			if o.Actor = strings.TrimSpace(getenv(name)); o.Actor != "" {
				break
			}
		}
	}
	if o.Actor == "" {
		o.Actor = localActor()
	}
	if o.RunID = strings.TrimSpace(getenv(EnvRunID)); o.RunID == "" {
		for _, name := range RunIDFallbacks {
			if v := strings.TrimSpace(getenv(name)); v != "" {
				o.RunID = name + "=" + v
				break
			}
		}
	}
	return Origin{Actor: cleanOrigin(o.Actor), RunID: cleanOrigin(o.RunID)}
}

// localActor is the operating-system user and host, "" when unknown.
func localActor() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		return ""
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return name + "@" + host
	}
	return name
}

// cleanOrigin drops control characters and cuts s to maxOriginLen bytes at a
// character boundary.
func cleanOrigin(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	for len(s) > maxOriginLen {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// stamp is what an append records beside the event's decision instant: the
// wall-clock time of recording and the origin.
type stamp struct {
	recordedAt time.Time
	origin     Origin
}

// stamper gives each append of a store its stamp. Its zero value records the
// system clock and no origin.
type stamper struct {
	mu     sync.Mutex
	origin Origin
	wall   func() time.Time
}

// SetOrigin sets the origin recorded with every event this store appends
// from now on.
func (s *stamper) SetOrigin(o Origin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.origin = Origin{Actor: cleanOrigin(o.Actor), RunID: cleanOrigin(o.RunID)}
}

// setWallClock replaces the clock the recording time is read from (tests).
func (s *stamper) setWallClock(wall func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wall = wall
}

func (s *stamper) stamp() stamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.wall != nil {
		now = s.wall()
	}
	return stamp{recordedAt: now.UTC().Round(0), origin: s.origin}
}

// stampAt is stamp with the recording time read from the database's clock
// (dbNow), which PostgreSQL's trigger holds every append to; a clock that
// setWallClock replaced still wins (tests).
func (s *stamper) stampAt(dbNow time.Time) stamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wall != nil {
		return stamp{recordedAt: s.wall().UTC().Round(0), origin: s.origin}
	}
	return stamp{recordedAt: dbNow.UTC().Round(0), origin: s.origin}
}

// after returns st recorded no earlier than the event before it, whose
// stored recording time is prev ("" when it has none): recording times never
// go backwards along the chain, even where the hosts that append disagree on
// the time. A stamp without a recording time (tests of old ledgers) stays
// without one.
func (st stamp) after(prev string) stamp {
	if !st.recordedAt.IsZero() {
		st.recordedAt = later(st.recordedAt, prev)
	}
	return st
}

// originSetter is a store that records an origin (both stores are).
type originSetter interface{ SetOrigin(Origin) }

// SetOrigin sets who appends the ledger's events from now on (Open sets it
// from the environment, OriginFromEnv). A store that cannot record an origin
// ignores it.
func (l *Ledger) SetOrigin(o Origin) {
	if s, ok := l.s.(originSetter); ok {
		s.SetOrigin(o)
	}
}

// apply records the stamp in ev.
func (st stamp) apply(ev *Event) {
	ev.RecordedAt, ev.Actor, ev.RunID = st.recordedAt, st.origin.Actor, st.origin.RunID
}

// insertEventStatement writes one event with every column, parameters in the
// order of eventArgs.
func insertEventStatement(d dialect) string {
	params := make([]string, 10)
	for i := range params {
		params[i] = d.param(i + 1)
	}
	return `INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id) VALUES (` +
		strings.Join(params, ", ") + `)`
}

// eventArgs are the parameters of insertEventStatement for ev.
func eventArgs(ev Event) []any {
	rec := ""
	if !ev.RecordedAt.IsZero() {
		rec = formatAt(ev.RecordedAt)
	}
	return []any{ev.Seq, formatAt(ev.At), ev.Type, ev.Subject, string(ev.Data), ev.PrevHash, ev.Hash, rec, ev.Actor, ev.RunID}
}

// eventColumns are the columns Events reads, in the order of scanEvent.
const eventColumns = `seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id`

// eventTimes parses the stored times of an event read with eventColumns.
func eventTimes(e *Event, at, recordedAt string) error {
	var err error
	if e.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return fmt.Errorf("event %d: time %q is not RFC 3339", e.Seq, at)
	}
	if recordedAt != "" {
		if e.RecordedAt, err = time.Parse(time.RFC3339Nano, recordedAt); err != nil {
			return fmt.Errorf("event %d: recording time %q is not RFC 3339", e.Seq, recordedAt)
		}
	}
	return nil
}
