package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// AuthorizationFiles are what wires the local kube-apiserver to the
// operator's authorization webhook.
type AuthorizationFiles struct {
	// Config is the AuthorizationConfiguration passed as --authorization-config.
	Config string
	// CertFile and KeyFile are the webhook's self-signed serving certificate.
	CertFile, KeyFile string
}

// UsernamePrefix is the OIDC prefix the local directories use; the webhook's
// matchConditions send the API server's requests for such users (and for
// such group claims) to the operator, and nothing else.
const UsernamePrefix = "oidc:"

// writeAuthorizationFiles writes a serving certificate for addr, a
// kubeconfig the API server uses to call the webhook, and an
// AuthorizationConfiguration that puts the webhook before RBAC.
func writeAuthorizationFiles(dir, addr string) (*AuthorizationFiles, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := SelfSignedCert(host)
	if err != nil {
		return nil, err
	}
	f := &AuthorizationFiles{
		Config:   filepath.Join(dir, "authorization-config.yaml"),
		CertFile: filepath.Join(dir, "authz-tls.crt"),
		KeyFile:  filepath.Join(dir, "authz-tls.key"),
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: scim-operator
  cluster:
    server: https://%s/authorize
    certificate-authority: %s
users:
- name: kube-apiserver
contexts:
- name: webhook
  context: {cluster: scim-operator, user: kube-apiserver}
current-context: webhook
`, addr, f.CertFile)
	// Caching is off: the webhook must see a deactivation at once, and its
	// decisions cost microseconds. failurePolicy NoOpinion keeps the cluster
	// usable (RBAC decides) if the operator is down; Deny is the strict choice.
	config := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: Webhook
  name: scim-operator
  webhook:
    timeout: 3s
    subjectAccessReviewVersion: v1
    matchConditionSubjectAccessReviewVersion: v1
    failurePolicy: NoOpinion
    cacheAuthorizedRequests: false
    cacheUnauthorizedRequests: false
    authorizedTTL: 1s
    unauthorizedTTL: 1s
    connectionInfo:
      type: KubeConfigFile
      kubeConfigFile: %s
    matchConditions:
    - expression: request.user.startsWith('%s') || request.groups.exists(g, g.startsWith('%s'))
- type: RBAC
  name: rbac
`, filepath.Join(dir, "authz-webhook.kubeconfig"), UsernamePrefix, UsernamePrefix)
	for path, data := range map[string][]byte{
		f.CertFile: certPEM, f.KeyFile: keyPEM, f.Config: []byte(config),
		filepath.Join(dir, "authz-webhook.kubeconfig"): []byte(kubeconfig),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// SelfSignedCert returns a certificate for host that is its own CA.
func SelfSignedCert(host string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "scim-operator authorization webhook"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
