package sites

import (
	"testing"

	"chefdeploy/models"
)

// TestNegotiateAndNotModified: every request runs both, and they allocate
// nothing (so the test is not parallel: AllocsPerRun cannot be).
func TestNegotiateAndNotModified(t *testing.T) {
	both := &models.SiteFile{GzipBytes: 1, BrotliBytes: 1}
	gzipOnly := &models.SiteFile{GzipBytes: 1}
	for _, c := range []struct {
		accept string
		f      *models.SiteFile
		want   string
	}{
		{"", both, models.EncodingIdentity},
		{"gzip, deflate, br, zstd", both, models.EncodingBrotli},
		{"gzip, deflate, br, zstd", gzipOnly, models.EncodingGzip},
		{"BR;q=0.5, GZIP", both, models.EncodingBrotli},
		{"br;q=0, gzip;q=0.5", both, models.EncodingGzip},
		{"br; q = 0, gzip", both, models.EncodingGzip},
		{"x-gzip", both, models.EncodingGzip},
		{"gzip;q=0, x-gzip", both, models.EncodingGzip},
		{"x-gzip, gzip;q=0", both, models.EncodingGzip},
		{"gzip;q=0", both, models.EncodingIdentity},
		{"br, br;q=0", both, models.EncodingIdentity},
		{"identity, *", both, models.EncodingIdentity},
	} {
		if got := negotiate(c.accept, c.f); got != c.want {
			t.Errorf("negotiate(%q) = %q, want %q", c.accept, got, c.want)
		}
	}
	const blob = "0123abcd"
	for _, c := range []struct {
		ifNoneMatch string
		want        bool
	}{
		{"", false},
		{`"0123abcd"`, true},
		{`"0123abcd-gzip"`, true},
		{`W/"0123abcd-br"`, true},
		{`"other", "0123abcd-br"`, true},
		{`*`, true},
		{`"other"`, false},
		{`"0123abcd-zstd"`, false},
	} {
		if got := notModified(c.ifNoneMatch, blob); got != c.want {
			t.Errorf("notModified(%q) = %v, want %v", c.ifNoneMatch, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		negotiate("gzip, deflate, br, zstd", both)
		negotiate("br;q=0, gzip;q=0.5", both)
		notModified(`"other", W/"0123abcd-br"`, blob)
	}); n != 0 {
		t.Errorf("negotiate and notModified allocate %v times, want none", n)
	}
}
