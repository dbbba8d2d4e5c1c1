package queue

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

// Recorded from RabbitMQ 3.10.8 (the integration harness's node), with a
// second consumer added on an idle channel from another address: GET
// /api/consumers/%2F and GET
// /api/vhosts/%2F/channels?columns=name,messages_unacknowledged.
const (
	recordedConsumers = `[{"arguments":{},"ack_required":true,"active":true,"activity_status":"up",` +
		`"channel_details":{"connection_name":"127.0.0.2:57271 -> 127.0.0.1:35725","name":"127.0.0.2:57271 -> 127.0.0.1:35725 (1)",` +
		`"node":"rabbitscale-35725@localhost","number":1,"peer_host":"127.0.0.2","peer_port":57271,"user":"guest"},` +
		`"consumer_tag":"busy","exclusive":false,"prefetch_count":3,"queue":{"name":"jobs","vhost":"/"}},` +
		`{"arguments":{},"ack_required":true,"active":true,"activity_status":"up",` +
		`"channel_details":{"connection_name":"127.0.0.3:40001 -> 127.0.0.1:35725","name":"127.0.0.3:40001 -> 127.0.0.1:35725 (1)",` +
		`"node":"rabbitscale-35725@localhost","number":1,"peer_host":"127.0.0.3","peer_port":40001,"user":"guest"},` +
		`"consumer_tag":"idle","exclusive":false,"prefetch_count":1,"queue":{"name":"jobs","vhost":"/"}}]`
	recordedChannels = `[{"messages_unacknowledged":3,"name":"127.0.0.2:57271 -> 127.0.0.1:35725 (1)"},` +
		`{"messages_unacknowledged":0,"name":"127.0.0.3:40001 -> 127.0.0.1:35725 (1)"}]`
)

func consumersHandler(t *testing.T, consumers, channels string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/api/consumers/%2F":
			_, _ = w.Write([]byte(consumers))
		case "/api/vhosts/%2F/channels":
			if got := r.URL.Query().Get("columns"); got != "name,messages_unacknowledged" {
				t.Errorf("channels asked with columns=%q, want only the two that are read", got)
			}
			_, _ = w.Write([]byte(channels))
		default:
			http.NotFound(w, r)
		}
	}
}

func TestManagementConsumers(t *testing.T) {
	tests := []struct {
		name      string
		consumers string
		channels  string
		want      []Consumer
		requests  int
	}{{
		name:      "busy and idle consumers joined with their channels",
		consumers: recordedConsumers,
		channels:  recordedChannels,
		want: []Consumer{{
			Queue: QueueKey{Vhost: "/", Name: "jobs"}, Tag: "busy", Channel: "127.0.0.2:57271 -> 127.0.0.1:35725 (1)",
			PeerHost: "127.0.0.2", PeerPort: 57271, Unacked: 3, UnackedAvailable: true,
		}, {
			Queue: QueueKey{Vhost: "/", Name: "jobs"}, Tag: "idle", Channel: "127.0.0.3:40001 -> 127.0.0.1:35725 (1)",
			PeerHost: "127.0.0.3", PeerPort: 40001, Unacked: 0, UnackedAvailable: true,
		}},
		requests: 2,
	}, {
		name:      "a channel closed between the two requests is reported unavailable, not idle",
		consumers: recordedConsumers,
		channels:  `[{"messages_unacknowledged":3,"name":"127.0.0.2:57271 -> 127.0.0.1:35725 (1)"}]`,
		want: []Consumer{{
			Queue: QueueKey{Vhost: "/", Name: "jobs"}, Tag: "busy", Channel: "127.0.0.2:57271 -> 127.0.0.1:35725 (1)",
			PeerHost: "127.0.0.2", PeerPort: 57271, Unacked: 3, UnackedAvailable: true,
		}, {
			Queue: QueueKey{Vhost: "/", Name: "jobs"}, Tag: "idle", Channel: "127.0.0.3:40001 -> 127.0.0.1:35725 (1)",
			PeerHost: "127.0.0.3", PeerPort: 40001,
		}},
		requests: 2,
	}, {
		name:      "no consumers: the channels are not asked for",
		consumers: `[]`,
		requests:  1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMgmtServer(t, consumersHandler(t, tt.consumers, tt.channels))
			m := newTestManagement(t, testBroker(srv.URL), testingclock.NewFakeClock(time.Now()))
			got, err := m.Consumers(context.Background(), "/")
			if err != nil {
				t.Fatalf("Consumers: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("consumers diff (-want +got):\n%s", diff)
			}
			if n := len(srv.seen()); n != tt.requests {
				t.Errorf("made %d requests (%q), want %d", n, srv.seen(), tt.requests)
			}
		})
	}
}

func TestManagementConsumersErrors(t *testing.T) {
	srv := newMgmtServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"internal"}`, http.StatusServiceUnavailable)
	})
	m := newTestManagement(t, testBroker(srv.URL), testingclock.NewFakeClock(time.Now()))
	_, err := m.Consumers(context.Background(), "/")
	if !errors.Is(err, ErrBrokerUnavailable) {
		t.Errorf("Consumers against a 503: err = %v, want ErrBrokerUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %q shows the password", err)
	}

	missing := newMgmtServer(t, http.NotFound)
	m = newTestManagement(t, testBroker(missing.URL), testingclock.NewFakeClock(time.Now()))
	got, err := m.Consumers(context.Background(), "/")
	if err != nil || len(got) != 0 {
		t.Errorf("Consumers of a vhost that does not exist = %v, %v; want none and no error", got, err)
	}
}

func TestReaderConsumersNeedTheManagementAPI(t *testing.T) {
	r := NewReader(&AMQPSource{}, ReaderOptions{})
	_, err := r.Consumers(context.Background(), "/")
	if !errors.Is(err, ErrConsumersUnsupported) {
		t.Errorf("Consumers through an AMQP source: err = %v, want ErrConsumersUnsupported", err)
	}
}
