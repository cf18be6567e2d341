package sites

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSitesServerOutlastsSlowClients: clients that send their headers a
// byte at a time (slowloris) do not keep the sites listener from answering
// others, and are cut off once ReadHeaderTimeout passes.
func TestSitesServerOutlastsSlowClients(t *testing.T) {
	t.Parallel()
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "site")
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != http.ErrServerClosed {
			t.Error(err)
		}
	})

	var slow []net.Conn
	for range 100 {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, conn)
	}
	for range 20 {
		res, err := http.Get("http://" + l.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(body) != "site" {
			t.Fatalf("a request among slow clients = %q, %v", body, err)
		}
	}
	// The slow clients keep dripping; the server hangs up on them.
	done := make(chan error, 1)
	go func() {
		conn := slow[0]
		for {
			if _, err := io.WriteString(conn, "a"); err != nil {
				done <- nil
				return
			}
			if err := conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
				done <- err
				return
			}
			// A read that ends other than by its own deadline: the server
			// answered (408 or 400) or closed the connection.
			if _, err := bufio.NewReader(conn).ReadByte(); err == nil || !isTimeout(err) {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(readHeaderTimeout + 10*time.Second):
		t.Fatalf("a slowloris client was still connected after %v", readHeaderTimeout+10*time.Second)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
