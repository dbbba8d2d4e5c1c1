package nslabels_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rabbitscale/rabbitscale/internal/nslabels"
	"github.com/rabbitscale/rabbitscale/queue"
)

func namespace(name string, labels map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
}

func client(objs ...runtime.Object) *metadatafake.FakeMetadataClient {
	scheme := metadatafake.NewTestScheme()
	_ = metav1.AddMetaToScheme(scheme)
	return metadatafake.NewSimpleMetadataClient(scheme, objs...)
}

// eventually polls f every 10 ms until it reports true, for at most 5 s.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("%s: not within 5 s", what)
}

// Once the informer has listed the namespaces, their labels are known,
// and a namespace without labels has empty (known) labels.
func TestLabelsOnceSynced(t *testing.T) {
	meta := client(namespace("shop", map[string]string{"team": "shop"}), namespace("bare", nil))
	labels := nslabels.New(meta, "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); labels.Shutdown() }()
	labels.Start(ctx, nil)
	eventually(t, "the informer's first list", func() bool { return nslabels.Namespace(labels, "shop").Labels != nil })
	for _, tt := range []struct {
		name string
		want queue.Namespace
	}{
		{"shop", queue.Namespace{Name: "shop", Labels: map[string]string{"team": "shop"}}},
		{"bare", queue.Namespace{Name: "bare", Labels: map[string]string{}}},
		{"gone", queue.Namespace{Name: "gone"}},
	} {
		if diff := cmp.Diff(tt.want, nslabels.Namespace(labels, tt.name)); diff != "" {
			t.Errorf("namespace %s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// Without any allow.namespaceSelector the binaries read no Namespace
// object, so that the chart need not grant it: the informer starts only
// once the brokers' file (reloaded) has a selector.
func TestIdleUntilASelectorNeedsIt(t *testing.T) {
	meta := client(namespace("shop", map[string]string{"team": "shop"}))
	labels := nslabels.New(meta, "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); labels.Shutdown() }()
	if _, err := labels.Get("shop"); !errors.Is(err, nslabels.ErrNotNeeded) {
		t.Errorf("Get before Start = %v, want ErrNotNeeded", err)
	}
	var selector atomic.Bool
	labels.Start(ctx, selector.Load)
	for range 3 {
		if got := nslabels.Namespace(labels, "shop"); got.Labels != nil {
			t.Errorf("labels %v without a selector, want unknown", got.Labels)
		}
	}
	time.Sleep(50 * time.Millisecond) // an informer started by mistake would list by now
	if n := len(meta.Actions()); n != 0 {
		t.Fatalf("without a selector: %d calls to the API server (%v); want none", n, meta.Actions())
	}
	selector.Store(true) // the file is reloaded with a namespaceSelector
	eventually(t, "labels once a selector needs them", func() bool { return nslabels.Namespace(labels, "shop").Labels != nil })
	if diff := cmp.Diff(map[string]string{"team": "shop"}, nslabels.Namespace(labels, "shop").Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	selector.Store(false) // a running informer keeps running
	if nslabels.Namespace(labels, "shop").Labels == nil {
		t.Error("the informer stopped serving when the selector went away; want it to run until the context ends")
	}
}

// A service account that may not list namespaces (an install whose RBAC
// predates allow.namespaceSelector) must not stop its binary: Get answers
// at once that the labels are unknown, and no selector matches.
func TestForbiddenListNeverBlocks(t *testing.T) {
	meta := client(namespace("shop", map[string]string{"team": "shop"}))
	meta.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "", errors.New("RBAC: no list"))
	})
	labels := nslabels.New(meta, "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); labels.Shutdown() }()
	labels.Start(ctx, nil)
	_, _ = labels.Get("shop")          // starts the informer
	time.Sleep(100 * time.Millisecond) // let the reflector fail its list
	done := make(chan error, 1)
	go func() {
		_, err := labels.Get("shop")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, nslabels.ErrNotSynced) {
			t.Errorf("Get = %v, want ErrNotSynced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get blocked on a namespace list that is forbidden")
	}
	if got := nslabels.Namespace(labels, "shop"); got.Labels != nil {
		t.Errorf("labels %v before any list, want unknown (nil), which no selector matches", got.Labels)
	}
	var nilGetter nslabels.Getter
	if got := nslabels.Namespace(nilGetter, "shop"); got.Name != "shop" || got.Labels != nil {
		t.Errorf("without a getter: %+v, want the name only", got)
	}
}
