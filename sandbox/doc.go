// Package sandbox is a built-in emulator of the Convex provision host API
// and its OAuth server (CONTRACT.md §2 and §3). The product mounts it at
// /sandbox when PROVISION_HOST is unset, so the whole product works without a
// Convex account; tests serve it from their own httptest.Server. It checks
// requests the way the real service does and keeps its state in a directory,
// so logins and projects survive a restart.
//
// Where the contract is silent, the sandbox does what the real service most
// plausibly does:
//
//   - Every team enforces its project quota; "quota-reached" simply has a
//     quota of 0. Deleting a project frees its slot, its slug, its keys, its
//     variables and its site; deployment names are never reused.
//   - "malformed" creates the project and then cuts its answer short (before
//     any secret), as a dropped connection would, so the caller must find the
//     project again by listing. "black-hole" creates nothing. "slow" answers
//     after SlowDelay, and creates the project then even if the client
//     stopped waiting, as a real server that finishes its work would.
//     Failure teams fail create_project only (and, for "authorize-fails",
//     authorize); every other call on them behaves normally.
//   - An authorization code is spent by any exchange attempt, right or
//     wrong; replaying a spent code also revokes the token it gave
//     (RFC 6749 §4.1.2). state is optional and passed through unchanged.
//   - The consent form refuses cross-origin posts and cannot be framed.
//   - Hosted sites are served from the last deployed zip. A zip whose files
//     all sit in one folder (zipping "dist/") is served from that folder.
//     Because the sandbox shares the product's origin, site files carry
//     "Content-Security-Policy: sandbox …", which puts them in an opaque
//     origin away from the product's cookies.
//   - Secrets (user tokens, deploy tokens, admin keys) are stored as sha256
//     hashes; authorization codes live in memory only.
package sandbox
