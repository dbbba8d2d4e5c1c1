package nslabels_test

import (
	"context"
	"errors"
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

// Once the informer has listed the namespaces, their labels are known,
// and a namespace without labels has empty (known) labels.
func TestLabelsOnceSynced(t *testing.T) {
	meta := client(namespace("shop", map[string]string{"team": "shop"}), namespace("bare", nil))
	labels, f := nslabels.New(meta, "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
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

// A service account that may not list namespaces (an install whose RBAC
// predates allow.namespaceSelector) must not stop its binary: Get answers
// at once that the labels are unknown, and no selector matches.
func TestForbiddenListNeverBlocks(t *testing.T) {
	meta := client(namespace("shop", map[string]string{"team": "shop"}))
	meta.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "", errors.New("RBAC: no list"))
	})
	labels, f := nslabels.New(meta, "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Shutdown() }()
	f.Start(ctx.Done())
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
