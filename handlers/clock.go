package handlers

import "time"

// timeNow is the clock the views judge deadlines by.
var timeNow = time.Now
