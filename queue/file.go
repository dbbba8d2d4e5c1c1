package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// File is the broker configuration file of a long-running process (the
// controller and the external metrics adapter alike), read again whenever
// it changes: a ConfigMap mounted as a directory (not with subPath) is
// updated in place by the kubelet, and the process's next read uses the
// new brokers. A new file that does not load keeps the brokers in use and
// says so in the log, naming the field, once per distinct content.
type File struct {
	path  string
	clock clock.WithTicker

	mu      sync.Mutex
	set     *Brokers
	content []byte // of the file last tried, loaded or not
}

// OpenFileWatched loads path, which must be valid to start, as OpenFile
// does, and returns it as a File that Reload and Watch read again. clk
// stamps samples, paces AMQP re-dials and Watch's period; nil means the
// real clock.
func OpenFileWatched(path string, clk clock.WithTicker) (*File, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg, err := ParseConfig(content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set, err := Open(cfg, clk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{path: path, clock: clk, set: set, content: content}, nil
}

// Brokers returns the brokers in use: those of the last content that
// loaded. Take it once per read of every broker (a tick, a refresh), so
// that one read sees one configuration.
func (f *File) Brokers() *Brokers {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

// Reload reads the file again and, when its content changed, opens the
// brokers it lists (Brokers.Reopen: the readers of unchanged brokers stay,
// with their connections and rate history). It reports whether the
// brokers in use changed; on error they did not, and the error names the
// file and the field.
func (f *File) Reload(ctx context.Context) (bool, error) {
	content, err := os.ReadFile(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
		return false, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	case bytes.Equal(content, f.content):
		return false, nil
	}
	f.content = content
	cfg, err := ParseConfig(content)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	set, err := f.set.Reopen(cfg, f.clock)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	f.set = set
	klog.FromContext(ctx).Info("Broker configuration reloaded", "path", f.path, "brokers", set.Names())
	return true, nil
}

// Watch reloads the file every period until ctx ends. A file that does not
// load is logged once per content, and the brokers in use stay.
func (f *File) Watch(ctx context.Context, every time.Duration) {
	t := f.clock.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if _, err := f.Reload(ctx); err != nil {
			if msg := err.Error(); msg != lastErr {
				klog.FromContext(ctx).Error(err, "Broker configuration not reloaded; the brokers in use stay", "path", f.path)
				lastErr = msg
			}
			continue
		}
		lastErr = ""
	}
}

// Close closes the brokers in use.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set.Close()
}
