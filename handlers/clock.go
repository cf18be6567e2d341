package handlers

import "time"

// timeNow is the clock the dashboard judges connection deadlines by (whether
// a connecting app is already past its deadline); other handlers call time.Now.
var timeNow = time.Now
