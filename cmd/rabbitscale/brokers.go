package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/queue"
)

// brokerFile is the broker configuration file, read again whenever it
// changes: a ConfigMap mounted as a directory (not with subPath) is
// updated in place by the kubelet, and the next tick uses the new brokers.
// A new file that does not load keeps the brokers in use, and says so in
// the log once per distinct content.
type brokerFile struct {
	path string

	mu      sync.Mutex
	set     *queue.Brokers
	readers map[string]autoscaler.Snapshotter
	content []byte // of the file last tried, loaded or not
}

var _ autoscaler.BrokerSet = (*brokerFile)(nil)

// openBrokerFile loads path; it must be valid to start.
func openBrokerFile(path string) (*brokerFile, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("broker configuration: %w", err)
	}
	set, err := queue.OpenFile(path, clock.RealClock{})
	if err != nil {
		return nil, err
	}
	f := &brokerFile{path: path, content: content}
	f.use(set)
	return f, nil
}

func (f *brokerFile) use(set *queue.Brokers) {
	readers := map[string]autoscaler.Snapshotter{}
	for name, r := range set.Readers() {
		readers[name] = r
	}
	f.set, f.readers = set, readers
}

// Current implements autoscaler.BrokerSet.
func (f *brokerFile) Current() (map[string]autoscaler.Snapshotter, func(broker, namespace, vhost string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readers, f.set.Allowed
}

// reload reads the file again and, when its content changed, opens the
// brokers it lists (keeping the readers of unchanged brokers). It reports
// whether the brokers in use changed.
func (f *brokerFile) reload(ctx context.Context) (bool, error) {
	content, err := os.ReadFile(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
		return false, fmt.Errorf("broker configuration: %w", err)
	case bytes.Equal(content, f.content):
		return false, nil
	}
	f.content = content
	cfg, err := queue.ParseConfig(content)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	set, err := f.set.Reopen(cfg, clock.RealClock{})
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	f.use(set)
	klog.FromContext(ctx).Info("Broker configuration reloaded", "path", f.path, "brokers", set.Names())
	return true, nil
}

// watch reloads the file every period until ctx ends. A file that does
// not load is logged once per content, and the brokers in use stay.
func (f *brokerFile) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := f.reload(ctx); err != nil {
			if msg := err.Error(); msg != lastErr {
				klog.FromContext(ctx).Error(err, "Broker configuration not reloaded; the brokers in use stay", "path", f.path)
				lastErr = msg
			}
			continue
		}
		lastErr = ""
	}
}

func (f *brokerFile) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.set.Close()
}
