package integration

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scim-operator/scim-operator/internal/metrics"
)

func TestMetricsCountRequestsUsersAndRevocations(t *testing.T) {
	c := newDirectory(t)
	dir := dirName(c)
	id := c.createUser("ann@"+dir+".example.com", nil)
	c.createUser("bob@"+dir+".example.com", nil)
	c.createGroup("metrics-group", id)
	c.do("GET", "/Users/not-a-real-id", nil).expect(t, 404)
	c.do("PATCH", "/Users/"+id, patchOps(op("replace", "active", false))).expect(t, 200)

	if n := testutil.ToFloat64(metrics.SCIMRequests.WithLabelValues(dir, "Users", "POST", "201")); n != 2 {
		t.Fatalf("%v POST 201 counted, want 2", n)
	}
	if n := testutil.ToFloat64(metrics.SCIMRequests.WithLabelValues(dir, "Users", "GET", "404")); n != 1 {
		t.Fatalf("%v GET 404 counted, want 1", n)
	}
	c.do("GET", "/NoSuchEndpoint", nil)
	if n := testutil.ToFloat64(metrics.SCIMRequests.WithLabelValues(dir, "other", "GET", "404")); n != 1 {
		t.Fatalf("unknown endpoints are not folded into resource=other: %v", n)
	}
	eventually(t, "the user gauges follow", func() bool {
		return testutil.ToFloat64(metrics.Users.WithLabelValues(dir, "active")) == 1 &&
			testutil.ToFloat64(metrics.Users.WithLabelValues(dir, "revoked")) == 1 &&
			testutil.ToFloat64(metrics.Groups.WithLabelValues(dir)) == 1
	})
	if n := testutil.ToFloat64(metrics.Revocations.WithLabelValues(dir, "revoked")); n != 1 {
		t.Fatalf("%v revocations counted, want 1", n)
	}
}
