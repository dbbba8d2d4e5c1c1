// Package nslabels gives the controller and the adapter the namespaces'
// labels, which the brokers' allow.namespaceSelector matches, from a
// metadata-only informer that never blocks its users and that runs only
// while a selector needs it.
//
// Neither binary waits for this informer's cache. An install whose RBAC
// predates allow.namespaceSelector cannot list namespaces; waiting would
// stall the controller's ticks and the adapter's serving for every
// workload, selector or not. Until the cache has synced, Get answers
// ErrNotSynced: the labels are unknown, so no selector matches (the allow
// lists fail closed), and a forbidden list or watch is logged once, naming
// what the binary needs.
//
// The informer starts at the first Get made while the brokers' file has a
// selector (Start's needed), not before: a configuration without any
// allow.namespaceSelector reads no Namespace object, so the chart grants
// reading them only to the installs that use one. A file reloaded with a
// selector starts it then; it then runs until the context ends.
package nslabels

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/metadata/metadatalister"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/rabbitscale/rabbitscale/queue"
)

// ErrNotSynced is Get's error until the informer has listed the namespaces
// once.
var ErrNotSynced = errors.New("namespace labels not known yet: the namespace informer has not synced (can this service account list and watch namespaces?)")

// ErrNotNeeded is Get's error while no broker has an
// allow.namespaceSelector, or before Start: the informer does not run.
var ErrNotNeeded = errors.New("namespace labels not read: no broker has an allow.namespaceSelector")

// resync is the informer's resync period.
const resync = 10 * time.Minute

// Labels serves namespace metadata from the informer once it has synced.
type Labels struct {
	factory metadatainformer.SharedInformerFactory
	inf     cache.SharedIndexInformer
	lister  metadatalister.Lister

	mu      sync.Mutex
	stop    <-chan struct{} // set by Start
	needed  func() bool     // set by Start
	started bool
}

// New returns the labels' source, idle until Start; who names the binary
// in the log line, e.g. "rabbitscale-adapter".
func New(meta metadata.Interface, who string) *Labels {
	f := metadatainformer.NewSharedInformerFactory(meta, resync)
	gvr := corev1.SchemeGroupVersion.WithResource("namespaces")
	inf := f.ForResource(gvr).Informer()
	var once sync.Once
	// Set before the factory starts, as client-go requires.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			once.Do(func() {
				klog.FromContext(ctx).Error(err, "Cannot list namespaces: allow.namespaceSelector matches no namespace until the service account may list and watch them (the chart grants it when a broker has a namespaceSelector)", "binary", who)
			})
			return
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	return &Labels{factory: f, inf: inf, lister: metadatalister.New(inf.GetIndexer(), gvr)}
}

// Start arms the informer under ctx: it starts at the first Get for which
// needed reports true (needed nil: at the first Get). needed is called on
// every Get until then, so it must be cheap (the brokers' file as last
// loaded).
func (l *Labels) Start(ctx context.Context, needed func() bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stop, l.needed = ctx.Done(), needed
}

// Shutdown waits for the informer's goroutines, once Start's context has
// ended; it returns at once if the informer never started.
func (l *Labels) Shutdown() {
	l.factory.Shutdown()
}

// Get returns a namespace's metadata; ErrNotNeeded while no selector needs
// the informer, ErrNotSynced before its first list.
func (l *Labels) Get(name string) (*metav1.PartialObjectMetadata, error) {
	if !l.run() {
		return nil, ErrNotNeeded
	}
	if !l.inf.HasSynced() {
		return nil, ErrNotSynced
	}
	return l.lister.Get(name)
}

// run starts the informer when it is needed and not started yet, and
// reports whether it runs.
func (l *Labels) run() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return true
	}
	if l.stop == nil || (l.needed != nil && !l.needed()) {
		return false
	}
	l.factory.Start(l.stop)
	l.started = true
	return true
}

// Getter gets a namespace's metadata: Labels, or client-go's metadata
// lister of namespaces.
type Getter interface {
	Get(name string) (*metav1.PartialObjectMetadata, error)
}

// Namespace is what the brokers' allow lists check of namespace name: its
// name, and its labels when g knows them (nil labels mean unknown, which
// no allow.namespaceSelector matches). g may be nil.
func Namespace(g Getter, name string) queue.Namespace {
	ns := queue.Namespace{Name: name}
	if g == nil {
		return ns
	}
	if m, err := g.Get(name); err == nil {
		ns.Labels = m.Labels
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
	}
	return ns
}
