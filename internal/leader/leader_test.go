package leader

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestIdentityCarriesTheURL(t *testing.T) {
	id := Identity("https://10.0.0.7:8443/")
	if !strings.HasPrefix(id, "https://10.0.0.7:8443_") {
		t.Fatalf("identity %q", id)
	}
	if u, err := URLOf(id); err != nil || u != "https://10.0.0.7:8443" {
		t.Fatalf("URLOf(%q) = %q, %v", id, u, err)
	}
	for _, bad := range []string{"", "host_uuid", "ftp://x:1_uuid", "https://_uuid", "noseparator"} {
		if u, err := URLOf(bad); err == nil {
			t.Errorf("URLOf(%q) = %q, want an error", bad, u)
		}
	}
}

func TestLocatorFindsTheWriter(t *testing.T) {
	key := types.NamespacedName{Namespace: "ops", Name: LeaseName}
	self := Identity("http://10.0.0.1:8443")
	other := Identity("http://10.0.0.2:8443")
	now := metav1.NewMicroTime(time.Now())
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	cases := []struct {
		name    string
		holder  *string
		renewed metav1.MicroTime
		want    string
		wantErr string
	}{
		{"another replica leads", &other, now, "http://10.0.0.2:8443", ""},
		{"nobody leads", nil, now, "", "no leader"},
		{"the lease expired", &other, old, "", "expired"},
		{"this replica is taking over", &self, now, "", "taking over"},
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lease := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: tc.holder, RenewTime: &tc.renewed, LeaseDurationSeconds: ptr(int32(15))},
			}
			l := &Locator{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(lease).Build(), Lease: key, Self: self}
			got, err := l.Writer(context.Background())
			if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Writer() = %q, %v; want %q, error containing %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestElectedReplicaWritesAfterSettling(t *testing.T) {
	l := &Locator{Reader: fake.NewClientBuilder().Build(), Self: "x", Settle: 300 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Start(ctx); close(done) }()
	// Elected but not settled: no writes anywhere yet. Settled: here.
	deadline := time.Now().Add(10 * time.Second)
	sawCatchingUp := false
	for {
		target, err := l.Writer(ctx)
		if err != nil && strings.Contains(err.Error(), "catching up") {
			sawCatchingUp = true
		}
		if err == nil && target == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never became the writer: %q, %v", target, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawCatchingUp {
		t.Error("the elected replica wrote before it had settled")
	}
	// Shutting down, it still finishes the writes it accepted.
	cancel()
	<-done
	if target, err := l.Writer(context.Background()); err != nil || target != "" {
		t.Fatalf("a leader that is shutting down refuses writes: %q, %v", target, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAWriteWaitsForTheElectedReplicaToSettle(t *testing.T) {
	l := &Locator{Reader: fake.NewClientBuilder().Build(), Self: "x", Settle: 200 * time.Millisecond, Hold: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = l.Start(ctx) }()
	for {
		l.mu.Lock()
		elected := !l.electedAt.IsZero()
		l.mu.Unlock()
		if elected {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Elected and settling: the write is held, not refused.
	if target, err := l.Writer(ctx); err != nil || target != "" {
		t.Fatalf("a write during the settle time: %q, %v; want it held until this replica writes", target, err)
	}
	// Without a hold the same state refuses at once.
	l2 := &Locator{Reader: fake.NewClientBuilder().Build(), Self: "x", Settle: time.Hour}
	go func() { _ = l2.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := l2.Writer(ctx)
		if err != nil && strings.Contains(err.Error(), "catching up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the settling state: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	// A held write gives up at the end of its request.
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	l2.Hold = time.Hour
	if _, err := l2.Writer(short); err == nil {
		t.Fatal("a held write outlived its request")
	}
}
