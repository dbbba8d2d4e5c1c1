package queue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"k8s.io/klog/v2"
)

// ErrConsumersUnsupported says that a source cannot tell who consumes a
// queue: only the management API lists consumers and their channels.
var ErrConsumersUnsupported = errors.New("consumer details need the management API")

// Consumer is one consumer of a queue, with the client end of its channel's
// connection and what that channel holds unacknowledged.
type Consumer struct {
	Queue QueueKey
	// Tag is the consumer tag.
	Tag string
	// Channel names the consumer's channel as the broker does
	// ("10.1.2.3:41234 -> 10.1.0.9:5672 (1)"); consumers sharing a
	// channel share its unacknowledged messages.
	Channel string
	// PeerHost and PeerPort are the client's address as the broker sees
	// it: a pod IP when pods connect directly, a proxy's otherwise.
	PeerHost string
	PeerPort int
	// Unacked is the channel's messages_unacknowledged: every queue the
	// channel consumes, not only Queue. UnackedAvailable is false when the
	// broker did not report the channel (closed between the two requests,
	// or statistics not yet emitted), in which case Unacked is 0.
	Unacked          int64
	UnackedAvailable bool
}

// ConsumerLister lists the consumers of a vhost's queues. ManagementSource
// implements it; Reader passes it through.
type ConsumerLister interface {
	Consumers(ctx context.Context, vhost string) ([]Consumer, error)
}

var _ ConsumerLister = (*ManagementSource)(nil)

// Consumers lists the consumers of every queue of the vhost with two
// requests, GET /api/consumers/{vhost} and GET
// /api/vhosts/{vhost}/channels?columns=name,messages_unacknowledged, and
// joins them by channel name. It is meant for rare reads (before a
// scale-down), not for every tick: both listings cost the broker a walk
// over all consumers or channels of the vhost.
//
// Both endpoints and fields were checked against RabbitMQ 3.10.8: the
// consumer's channel_details carries the channel's name and the client's
// peer_host and peer_port, but not its unacknowledged count, which only the
// channel listing has. A vhost that does not exist has no consumers.
func (m *ManagementSource) Consumers(ctx context.Context, vhost string) ([]Consumer, error) {
	up, ok, err := m.creds()
	if err != nil {
		return nil, &BrokerError{Broker: m.name, Op: "reading credentials", Kind: ErrInvalidConfig, Err: err}
	}
	var auth *userPass
	if ok {
		auth = &up
	}
	v := url.PathEscape(vhost)

	var consumers []mgmtConsumer
	if err := m.getJSON(ctx, "/api/consumers/"+v, nil, auth, &consumers); err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if len(consumers) == 0 {
		return nil, nil
	}
	var channels []mgmtChannel
	q := url.Values{"columns": {"name,messages_unacknowledged"}}
	if err := m.getJSON(ctx, "/api/vhosts/"+v+"/channels", q, auth, &channels); err != nil && !notFound(err) {
		return nil, err
	}
	unacked := make(map[string]int64, len(channels))
	for _, ch := range channels {
		if ch.Unacked != nil {
			unacked[ch.Name] = *ch.Unacked
		}
	}
	out := make([]Consumer, 0, len(consumers))
	for _, c := range consumers {
		if c.Queue.Name == "" || c.Channel.Name == "" {
			continue
		}
		n, ok := unacked[c.Channel.Name]
		out = append(out, Consumer{
			Queue:            QueueKey{Vhost: c.Queue.Vhost, Name: c.Queue.Name},
			Tag:              c.Tag,
			Channel:          c.Channel.Name,
			PeerHost:         c.Channel.PeerHost,
			PeerPort:         c.Channel.PeerPort,
			Unacked:          n,
			UnackedAvailable: ok,
		})
	}
	klog.FromContext(ctx).V(4).Info("Read consumers", "broker", m.name, "vhost", vhost, "consumers", len(out), "channels", len(channels))
	return out, nil
}

// mgmtConsumer is one item of GET /api/consumers/{vhost}.
type mgmtConsumer struct {
	Tag   string `json:"consumer_tag"`
	Queue struct {
		Name  string `json:"name"`
		Vhost string `json:"vhost"`
	} `json:"queue"`
	Channel struct {
		Name     string `json:"name"`
		PeerHost string `json:"peer_host"`
		PeerPort int    `json:"peer_port"`
	} `json:"channel_details"`
}

// mgmtChannel is one item of GET /api/vhosts/{vhost}/channels.
type mgmtChannel struct {
	Name    string `json:"name"`
	Unacked *int64 `json:"messages_unacknowledged"`
}

// getJSON GETs an escaped path under the management URL and decodes its
// JSON body into out.
func (m *ManagementSource) getJSON(ctx context.Context, path string, q url.Values, auth *userPass, out any) error {
	u := *m.base
	u.RawPath = m.base.EscapedPath() + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = q.Encode()
	op := "GET " + displayURL(&u)
	return m.http.get(ctx, &u, op, auth, "application/json", func(r io.Reader) error {
		return json.NewDecoder(r).Decode(out)
	})
}

func notFound(err error) bool {
	var be *BrokerError
	return errors.As(err, &be) && be.Status == http.StatusNotFound
}

// Consumers lists the consumers of the vhost's queues when the source can
// (the management API), and fails with ErrConsumersUnsupported otherwise.
// It does not touch the rate state, so it may run concurrently with
// Snapshot.
func (r *Reader) Consumers(ctx context.Context, vhost string) ([]Consumer, error) {
	cl, ok := r.src.(ConsumerLister)
	if !ok {
		return nil, ErrConsumersUnsupported
	}
	return cl.Consumers(ctx, vhost)
}

var _ ConsumerLister = (*Reader)(nil)
