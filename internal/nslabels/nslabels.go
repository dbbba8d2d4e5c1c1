// Package nslabels gives the controller and the adapter the namespaces'
// labels, which the brokers' allow.namespaceSelector matches, from a
// metadata-only informer that never blocks its users.
//
// Neither binary waits for this informer's cache. An install whose RBAC
// predates allow.namespaceSelector cannot list namespaces; waiting would
// stall the controller's ticks and the adapter's serving for every
// workload, selector or not. Until the cache has synced, Get answers
// ErrNotSynced: the labels are unknown, so no selector matches (the allow
// lists fail closed), and a forbidden list or watch is logged once, naming
// what the binary needs.
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

// resync is the informer's resync period.
const resync = 10 * time.Minute

// Labels serves namespace metadata from the informer once it has synced.
type Labels struct {
	inf    cache.SharedIndexInformer
	lister metadatalister.Lister
}

// New returns the labels' source and the factory to start (Start); who
// names the binary in the log line, e.g. "rabbitscale-adapter".
func New(meta metadata.Interface, who string) (*Labels, metadatainformer.SharedInformerFactory) {
	f := metadatainformer.NewSharedInformerFactory(meta, resync)
	gvr := corev1.SchemeGroupVersion.WithResource("namespaces")
	inf := f.ForResource(gvr).Informer()
	var once sync.Once
	// Set before the factory starts, as client-go requires.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			once.Do(func() {
				klog.FromContext(ctx).Error(err, "Cannot list namespaces: allow.namespaceSelector matches no namespace until the service account may list and watch them (the chart's RBAC grants it)", "binary", who)
			})
			return
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	return &Labels{inf: inf, lister: metadatalister.New(inf.GetIndexer(), gvr)}, f
}

// Get returns a namespace's metadata, or ErrNotSynced before the first
// list.
func (l *Labels) Get(name string) (*metav1.PartialObjectMetadata, error) {
	if !l.inf.HasSynced() {
		return nil, ErrNotSynced
	}
	return l.lister.Get(name)
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
