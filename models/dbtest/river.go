package dbtest

import "runtime/debug"

// riverVersion is part of the template's name: River's migrations come with
// its module, so a River upgrade must build a new template.
var riverVersion = func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == "github.com/riverqueue/river" {
			return m.Version
		}
	}
	return "unknown"
}()
