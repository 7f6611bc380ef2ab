// Package integration tests the operator end to end over real HTTP against a
// real kube-apiserver and etcd: requests go to the SCIM endpoint, assertions
// read the status codes, the bodies and the custom resources.
package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/scim-operator/scim-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// The operator's error logs (reconcile retries of the fault-injection
	// tests, with stack traces) go to a file unless -v is given: in the test
	// output they would bury the one line that says which test failed.
	logOut, logPath := io.Writer(os.Stderr), ""
	if !testingVerbose() {
		if f, err := os.CreateTemp("", "scim-operator-integration-*.log"); err == nil {
			logOut, logPath = f, f.Name()
		}
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.Level(zapLevel())))
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the test environment:", err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	if logPath != "" {
		if code != 0 {
			fmt.Fprintln(os.Stderr, "the operator's log is in", logPath)
		} else {
			_ = os.Remove(logPath)
		}
	}
	os.Exit(code)
}

// dirCounter gives every test its own directory and namespace.
var dirCounter int

// newDirectory creates a fresh directory and returns a SCIM client for it.
func newDirectory(t *testing.T) *scimClient {
	t.Helper()
	dirCounter++
	name := fmt.Sprintf("d%d", dirCounter)
	base, tok, err := env.Directory(context.Background(), name, "scim-"+name, defaultMapping)
	if err != nil {
		t.Fatalf("creating directory: %v", err)
	}
	return &scimClient{t: t, base: base, token: tok, namespace: "scim-" + name}
}
