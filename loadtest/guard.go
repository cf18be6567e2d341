// Package loadtest drives chefdeploy from the outside, as its users and its
// operations team would: real processes of the product on one database,
// HAProxy in front of several of them, browsers over HTTP, and the numbers
// they measure. cmd/load and cmd/chaos are built on it. It only ever talks
// to loopback addresses.
package loadtest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckLoopback refuses a URL whose host is not a loopback address, so the
// load and chaos tools can never be pointed at someone else's server. Names
// other than localhost are refused without being resolved.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return CheckLoopbackHost(u.Hostname())
}

// CheckLoopbackHost refuses a host (name or IP, without port) that is not
// loopback.
func CheckLoopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: the load and chaos tools only send traffic to loopback addresses (127.0.0.0/8, ::1, localhost)", host)
	}
	return nil
}

// CheckLoopbackDatabase refuses a PostgreSQL URL whose host is not loopback
// (a socket directory counts as local).
func CheckLoopbackDatabase(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("the database URL is not a postgres:// URL")
	}
	host := u.Hostname()
	if host == "" || strings.HasPrefix(host, "/") {
		return nil
	}
	return CheckLoopbackHost(host)
}
