//go:build integration

package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rabbitscale/rabbitscale/integration/harness"
	"github.com/rabbitscale/rabbitscale/queue"
)

// rabbitUser is a RabbitMQ user made with rabbitmqctl for one test: its
// tags, and its permissions on the default vhost (nil: none at all).
type rabbitUser struct {
	name string
	tags []string
	// perms are the configure, write and read regexes on "/".
	perms *[3]string
}

// create makes the user on the harness broker and writes its password to
// a file, returning the file's path; the user is deleted at the end of t.
func (u rabbitUser) create(ctx context.Context, t *testing.T) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "password")
	password := uniqueName(t, "pw")
	if err := os.WriteFile(pw, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) {
		t.Helper()
		if err := broker.Ctl(ctx, args...); errors.Is(err, harness.ErrRestartUnsupported) {
			t.Skip("rabbitmqctl needs a broker the harness started itself")
		} else if err != nil {
			t.Fatal(err)
		}
	}
	ctl("add_user", u.name, password)
	t.Cleanup(func() { _ = broker.Ctl(context.Background(), "delete_user", u.name) })
	ctl(append([]string{"set_user_tags", u.name}, u.tags...)...)
	if u.perms != nil {
		ctl("set_permissions", "-p", "/", u.name, u.perms[0], u.perms[1], u.perms[2])
	}
	return pw
}

// readAs reads queue k through source src as the user, until the figures
// show want ready messages or statsWait passes; it returns the last error.
func readAs(ctx context.Context, t *testing.T, src queue.SourceKind, username, passwordFile string, k queue.QueueKey, want int64) error {
	t.Helper()
	bc := brokerConfig(t, src)
	bc.Credentials = queue.Credentials{Username: username, PasswordFile: passwordFile}
	s, err := queue.NewSource(bc, nil)
	if err != nil {
		t.Fatalf("NewSource(%s): %v", src, err)
	}
	defer func() { _ = s.Close() }()
	scope := queue.Scope{Queues: []queue.QueueKey{k}}
	deadline := time.Now().Add(statsWait())
	for {
		snap, err := s.Snapshot(ctx, scope)
		if err == nil {
			var st queue.QueueStats
			if st, err = snap.Queue(k); err == nil && st.Ready == want {
				return nil
			}
		}
		if errors.Is(err, queue.ErrUnauthorized) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRabbitMQUser finds the least a RabbitMQ user needs, per source, by
// reading through each with users made by rabbitmqctl
// (docs-rabbitmq-user.md gives the commands): the minimum reads the
// queue, and one step less fails or, worse, silently sees less.
func TestRabbitMQUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	q := uniqueQueue("least-privilege")
	publish(ctx, t, q, 7)
	t.Cleanup(func() { purge(t, q) })
	k := queue.QueueKey{Vhost: "/", Name: q}
	// A consumer of another user (the admin), as the workers' are.
	cq := uniqueQueue("least-privilege-consumed")
	ch, done := channel(t)
	defer done()
	if _, err := ch.QueueDeclare(cq, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume(cq, "least-privilege", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	nothing := &[3]string{"^$", "^$", "^$"} // vhost access, no resource

	consumersAs := func(t *testing.T, name, pw string) ([]queue.Consumer, error) {
		bc := brokerConfig(t, queue.SourceManagement)
		bc.Credentials = queue.Credentials{Username: name, PasswordFile: pw}
		s, err := queue.NewSource(bc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		deadline := time.Now().Add(statsWait())
		for {
			cs, err := s.(*queue.ManagementSource).Consumers(ctx, "/")
			found := slices.ContainsFunc(cs, func(c queue.Consumer) bool { return c.Queue.Name == cq })
			if err != nil || found || time.Now().After(deadline) {
				return cs, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	t.Run("management: monitoring and vhost access", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-mgmt"), tags: []string{"monitoring"}, perms: nothing}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceManagement, u.name, pw, k, 7); err != nil {
			t.Errorf("reading the queue: %v", err)
		}
		cs, err := consumersAs(t, u.name, pw)
		if err != nil || !slices.ContainsFunc(cs, func(c queue.Consumer) bool { return c.Queue.Name == cq }) {
			t.Errorf("listing the vhost's consumers for idle-first: %v, %v; want the admin's consumer of %s", cs, err, cq)
		}
	})
	t.Run("management: without vhost access", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-mgmt-novhost"), tags: []string{"monitoring"}}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceManagement, u.name, pw, k, 7); !errors.Is(err, queue.ErrUnauthorized) {
			t.Errorf("reading the queue: %v, want ErrUnauthorized (not authorised to access virtual host)", err)
		}
	})
	t.Run("management: the management tag sees no other user's consumers", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-mgmt-tag"), tags: []string{"management"}, perms: nothing}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceManagement, u.name, pw, k, 7); err != nil {
			t.Errorf("reading the queue: %v", err)
		}
		if cs, err := consumersAs(t, u.name, pw); err != nil || len(cs) != 0 {
			t.Errorf("consumers as a management user: %v, %v; want none (RabbitMQ hides other users' channels)", cs, err)
		}
	})
	t.Run("management: without a tag", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-mgmt-notag"), perms: &[3]string{".*", ".*", ".*"}}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceManagement, u.name, pw, k, 7); !errors.Is(err, queue.ErrUnauthorized) {
			t.Errorf("reading the queue: %v, want ErrUnauthorized (not a management user)", err)
		}
	})
	t.Run("prometheus: no user", func(t *testing.T) {
		// The endpoint of this broker asks for no credentials: any
		// username, even one without tags or permissions, reads it.
		u := rabbitUser{name: uniqueName(t, "rs-prom")}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourcePrometheus, u.name, pw, k, 7); err != nil {
			t.Errorf("reading the queue: %v", err)
		}
	})
	t.Run("amqp: vhost access only", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-amqp"), perms: nothing}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceAMQP, u.name, pw, k, 7); err != nil {
			t.Errorf("passive declare: %v", err)
		}
	})
	t.Run("amqp: without vhost access", func(t *testing.T) {
		u := rabbitUser{name: uniqueName(t, "rs-amqp-novhost")}
		pw := u.create(ctx, t)
		if err := readAs(ctx, t, queue.SourceAMQP, u.name, pw, k, 7); err == nil || !strings.Contains(err.Error(), "access to vhost") {
			t.Errorf("passive declare: %v, want the connection refused (access to vhost '/' refused)", err)
		}
	})
}
