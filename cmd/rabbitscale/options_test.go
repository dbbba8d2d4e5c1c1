package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// validateCase is a row of an options type's Validate table: a change to
// the defaults, and the errors it must produce in order, each matched by its
// beginning.
type validateCase[O any] struct {
	name   string
	modify func(O)
	want   []string
}

func testValidate[O interface{ Validate() []error }](t *testing.T, defaults func() O, cases []validateCase[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults()
			tc.modify(o)
			var got []string
			for i, err := range o.Validate() {
				if i < len(tc.want) && strings.HasPrefix(err.Error(), tc.want[i]) {
					got = append(got, tc.want[i])
					continue
				}
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunOptionsValidate(t *testing.T) {
	testValidate(t, NewRunOptions, []validateCase[*RunOptions]{
		{name: "defaults are valid", modify: func(*RunOptions) {}},
		{name: "interval too short", modify: func(o *RunOptions) { o.Interval = 10 * time.Millisecond },
			want: []string{"--interval: 10ms is shorter than 100ms"}},
		{name: "qps and burst", modify: func(o *RunOptions) { o.KubeAPIQPS, o.KubeAPIBurst = 0, 0 },
			want: []string{"--kube-api-qps: 0 must be positive", "--kube-api-burst: 0 must be at least 1"}},
		{name: "bad label selector", modify: func(o *RunOptions) { o.LabelSelector = "app in (a" },
			want: []string{`--label-selector: "app in (a"`}},
		{name: "bad namespace", modify: func(o *RunOptions) { o.Namespace = "Team_A" },
			want: []string{`--namespace: "Team_A"`}},
		{name: "a list of namespaces", modify: func(o *RunOptions) { o.Namespaces = []string{"shop", "mail"} }},
		{name: "bad and repeated namespaces", modify: func(o *RunOptions) { o.Namespaces = []string{"shop", "Team_B", "shop"} },
			want: []string{`--namespaces: "Team_B"`, `--namespaces: "shop" is listed twice`}},
		{name: "namespace and namespaces", modify: func(o *RunOptions) { o.Namespace, o.Namespaces = "shop", []string{"mail"} },
			want: []string{`--namespace: "shop" is set together with --namespaces; use one`}},
		{name: "state sync shorter than a tick", modify: func(o *RunOptions) { o.StateSyncPeriod = time.Second },
			want: []string{"--state-sync-period: 1s is shorter than --interval 5s"}},
		{name: "leader election timings out of order", modify: func(o *RunOptions) { o.LeaderElectionRenewDeadline = 20 * time.Second },
			want: []string{"--leader-election-*: need 0 < retry-period (2s) < renew-deadline (20s) < lease-duration (15s)"}},
		{name: "timings do not matter without leader election", modify: func(o *RunOptions) {
			o.LeaderElect, o.LeaderElectionRenewDeadline = false, 20*time.Second
		}},
	})
}

func TestRunOptionsFlagsReachTheStruct(t *testing.T) {
	o := NewRunOptions()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--interval=2s", "--dry-run", "--namespace=workers", "--config=/tmp/b.yaml", "--leader-elect=false", "--profiling"})
	if err != nil {
		t.Fatal(err)
	}
	want := NewRunOptions()
	want.Interval, want.DryRun, want.Namespace, want.Config, want.LeaderElect = 2*time.Second, true, "workers", "/tmp/b.yaml", false
	want.Profiling = true
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("options diff (-want +got):\n%s", diff)
	}
}

// TestProfilingIsOptIn: /debug/pprof/ exposes the process's internals, so
// it is served only with --profiling; /metrics and /healthz always are.
func TestProfilingIsOptIn(t *testing.T) {
	var ready atomic.Bool
	for _, profiling := range []bool{false, true} {
		srv := httpServer("", &ready, http.NotFoundHandler(), nil, profiling)
		for path, want := range map[string]int{
			"/healthz":      http.StatusOK,
			"/readyz":       http.StatusServiceUnavailable,
			"/debug/pprof/": map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[profiling],
		} {
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != want {
				t.Errorf("profiling %v: GET %s = %d, want %d", profiling, path, rec.Code, want)
			}
		}
	}
}
