// Package migrations holds chefdeploy's SQL migrations, numbered and applied in
// order by goose, each in its own transaction.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
