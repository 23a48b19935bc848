//go:build unix

package testpeers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// CIMDHost is a local https host for Client ID Metadata Documents: what
// the project's pages (or a company's web server) are to a real
// authorization server. Its certificate comes from a CA made for the test,
// written to CAFile for peers that must trust it (NODE_EXTRA_CA_CERTS).
type CIMDHost struct {
	URL    string // https://127.0.0.1:port
	CAFile string // the CA's certificate, PEM
	CAs    *x509.CertPool

	mu      sync.Mutex // guards docs and fetches
	docs    map[string][]byte
	fetches map[string]int
}

// StartCIMDHost starts a CIMDHost on 127.0.0.1, stopped when t ends.
func StartCIMDHost(t testing.TB) *CIMDHost {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mcptray test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "cimd-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &CIMDHost{URL: "https://" + ln.Addr().String(), CAFile: caFile, CAs: pool, docs: map[string][]byte{}, fetches: map[string]int{}}
	srv := &http.Server{
		Handler:           http.HandlerFunc(h.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}},
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return h
}

// Publish serves doc at path (which starts with a slash) and returns its
// URL, the client_id a document there must carry.
func (h *CIMDHost) Publish(path string, doc any) string {
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.docs[path] = b
	return h.URL + path
}

// Fetches counts the requests for path.
func (h *CIMDHost) Fetches(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fetches[path]
}

func (h *CIMDHost) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	doc, ok := h.docs[r.URL.Path]
	h.fetches[r.URL.Path]++
	h.mu.Unlock()
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// The draft lets an authorization server cache a document per the
	// response's HTTP caching headers; tests want each change seen.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
}

// ClientMetadata is a Client ID Metadata Document for a public native
// client (no secret, PKCE), as mcptray publishes one: client_id is the
// document's own URL.
func ClientMetadata(clientID string, redirectURIs ...string) map[string]any {
	return map[string]any{
		"client_id":                  clientID,
		"client_name":                "mcptray",
		"redirect_uris":              redirectURIs,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	}
}

// CIMDServer is oidc-provider set up to know clients by their Client ID
// Metadata Document only (npm/oidc-cimd.mjs), and the Go MCP server it
// protects. The provider:
//   - advertises client_id_metadata_document_supported and fetches a
//     client_id that is an https URL with a path; it has no registration
//     endpoint and no pre-registered clients;
//   - normally refuses documents on special-use addresses (loopback
//     included): this configuration lifts that for the test host;
//   - refuses a document whose client_id differs from its URL, or that
//     names a shared-secret token_endpoint_auth_method;
//   - matches a native client's loopback redirect URI on any port;
//   - sends RFC 9207 iss and advertises it; requires PKCE;
//   - binds JWT access tokens to the RFC 8707 resource (audience), with
//     the scopes mcp:tools and mcp:admin;
//   - rotates refresh tokens when the document lists refresh_token;
//   - has development login and consent pages: any login name; consent
//     grants all (nothing to untick); Cancel declines.
type CIMDServer struct {
	Issuer   string
	Resource *ResourceServer
	*Process
}

// StartCIMD starts the provider, trusting host's CA, and its resource
// server, both on 127.0.0.1 and stopped when t ends.
func StartCIMD(t testing.TB, host *CIMDHost) *CIMDServer {
	t.Helper()
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	rs := StartResourceServer(t, ResourceOptions{
		AuthorizationServers: []string{issuer},
		Scopes:               []string{"mcp:tools"},
		ToolScopes:           map[string]string{"admin": "mcp:admin"},
		Verify:               JWTVerifier(issuer, issuer+"/jwks"),
		RequireAudience:      true,
	})
	p := StartNode(t, filepath.Join(PeersDir(t), "oidc-cimd.mjs"), nil, []string{
		"ISSUER_PORT=" + strconv.Itoa(port),
		"RESOURCE=" + rs.URL,
		"NODE_EXTRA_CA_CERTS=" + host.CAFile,
	})
	return &CIMDServer{Issuer: issuer, Resource: rs, Process: p}
}
