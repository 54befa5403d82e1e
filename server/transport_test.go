package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/troikahq/troika"
	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/gen/troika/v1/troikav1connect"
	"github.com/troikahq/troika/server"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "troika-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// With --tls-cert/--tls-key the server speaks HTTPS (HTTP/2), and the Go
// SDK dials it with a token.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert, key, pool := selfSigned(t)
	e := setup(t, true, func(c *server.Config) { c.TLSCert, c.TLSKey = cert, key })
	if !strings.HasPrefix(e.url, "https://") {
		t.Fatalf("url = %s", e.url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	c, err := troika.Dial(t.Context(), e.url, troika.WithToken(adminToken), troika.WithHTTPClient(hc), troika.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Enqueue(t.Context(), troika.RawArgs{KindName: "tls.job"})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.GetJob(t.Context(), res.ID); err != nil || j.Kind != "tls.job" {
		t.Fatalf("GetJob = %v, %v", j, err)
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Post(strings.Replace(e.url, "https", "http", 1)+"/troika.v1.JobService/Enqueue", "application/json", strings.NewReader(`{"kind":"k"}`)); err == nil {
		resp.Body.Close()
		if n := e.jobCount(t); n != 1 {
			t.Fatalf("plain HTTP enqueued: %d jobs", n)
		}
	}
	// A client that does not trust the certificate fails the handshake.
	bad, _ := troika.Dial(t.Context(), e.url, troika.WithToken(adminToken), troika.WithLogger(quiet()))
	defer bad.Close()
	if _, err := bad.GetJob(t.Context(), res.ID); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// A client that sends its headers slowly (slowloris) is cut off after the
// read-header timeout and does not hold the server.
func TestSlowClientCutOff(t *testing.T) {
	t.Parallel()
	e := setup(t, false, func(c *server.Config) { c.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /troika.v1.JobService/Enqueue HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	_, err = conn.Read(buf) // the server closes the connection (possibly after a 408)
	for err == nil {
		_, err = conn.Read(buf)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("slow client held its connection for %s", time.Since(start))
	}
	// Meanwhile others are served.
	e.ok(t, "JobService/Enqueue", "", `{"kind":"k"}`)
}

// Headers over the limit are refused before any handler runs.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, false, func(c *server.Config) { c.MaxHeaderBytes = 4 << 10 })
	req, _ := http.NewRequest(http.MethodPost, e.url+"/troika.v1.JobService/Enqueue", strings.NewReader(`{"kind":"k"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || e.jobCount(t) != 0 {
		t.Fatalf("status %d, jobs %d", resp.StatusCode, e.jobCount(t))
	}
}

// Watch streams need the worker scope (and the token's queues) like the
// other WorkerService methods.
func TestAuthWatch(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	watch := func(token string, queues ...string) error {
		hc := &http.Client{Transport: bearerRT{token}}
		ws := troikav1connect.NewWorkerServiceClient(hc, e.url)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := ws.Watch(ctx, connect.NewRequest(&v1.WatchRequest{Queues: queues}))
		if err != nil {
			return err
		}
		defer s.Close()
		if !s.Receive() {
			return s.Err()
		}
		return nil
	}
	for _, tc := range []struct {
		token  string
		queues []string
		code   connect.Code
	}{
		{"", nil, connect.CodeUnauthenticated},
		{"nope-nope-nope-nope-nope", nil, connect.CodeUnauthenticated},
		{producerToken, nil, connect.CodePermissionDenied},
		{emailsToken, []string{"other"}, connect.CodePermissionDenied},
		{emailsToken, []string{"emails"}, 0},
		{workerToken, nil, 0},
		{adminToken, []string{"a", "b"}, 0},
	} {
		err := watch(tc.token, tc.queues...)
		if got := connect.CodeOf(err); (tc.code == 0 && err != nil) || (tc.code != 0 && got != tc.code) {
			t.Errorf("Watch(token %q, %v) = %v, want code %v", tc.token, tc.queues, err, tc.code)
		}
	}
}

type bearerRT struct{ token string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}
