package sites

import (
	"log/slog"
	"net/http"
	"time"
)

// Timeouts of the sites listener: it serves anyone on the internet, so a
// slow client (slowloris) is cut off rather than holding a connection.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = time.Minute
)

// NewServer is the sites listener's server, for h (a Handler): no request
// body is read (a site answers GET and HEAD), and headers are bounded.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
