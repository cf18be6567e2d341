// Package sandbox is a built-in emulator of the Convex provision host API,
// the public Management API and their OAuth server (CONTRACT.md §2 and §3),
// and an OpenID Connect provider for the login (§3.1), with issuer
// {BaseURL}/oidc. The product mounts it at
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
//   - Secrets (user tokens, team tokens, deploy tokens and keys, admin keys)
//     are stored as sha256 hashes; authorization codes live in memory only.
//
// The OpenID Connect provider (oidc.go) sits beside the OAuth server and
// leaves it unchanged:
//
//   - Endpoints: /oidc/.well-known/openid-configuration, /oidc/jwks,
//     /oidc/authorize (GET page, POST form, cross-origin posts refused),
//     /oidc/token and /oidc/userinfo (GET or POST, Bearer header only).
//   - It serves the same registered clients and redirect URIs (Options.Clients
//     and Options.RedirectURIs): the product's login callback is
//     {BASE_URL}/auth/callback in both flows. Codes and tokens of the two
//     flows are separate: an /oauth code is unknown at /oidc/token.
//   - The authorize request must carry scope with openid, a nonce (at most
//     512 bytes) and S256 PKCE; state is optional and passed through. Bad
//     requests get a 400 page and no redirect. prompt, max_age and other
//     parameters are ignored: the page is always shown.
//   - Client credentials only in the form body (client_secret_post). Codes
//     live 60 s, are spent by any attempt, and a replay revokes the access
//     and refresh tokens the code gave.
//   - Access tokens are opaque ("sbxo_…"), valid 1 hour, stored hashed with
//     their expiry, and also accepted by the provision API as the user's
//     token (CONTRACT §2.2). Refresh tokens ("sbxr_…", 30 days) are always
//     issued and rotate on use; a refreshed ID token has no nonce.
//   - ID tokens are RS256, signed with a 2048-bit key whose kid is its RFC
//     7638 thumbprint. The key is made on first use and kept in the state
//     (the one secret kept in the clear, since the sandbox signs with it),
//     so it survives restarts when there is a StateDir.
//   - Claims: iss, sub ("sandbox-user-{key}", User.Subject), aud, exp, iat,
//     nonce, at_hash; email and email_verified with the email scope; name
//     with the profile scope; groups always, omitted when empty (Sam is in
//     "support"). userinfo answers the same person claims.
//   - Errors of the token and userinfo endpoints use OAuth's shape
//     ({"error","error_description"}, RFC 6749 §5.2 and RFC 6750 §3, with
//     WWW-Authenticate on userinfo), like /oauth/token, not the API's
//     {"code","message"}.
//
// It also emulates the public Management API v1 (CONTRACT §2.1) at /v1 and
// its team consent (§3.2) at /oauth/authorize/team, on the same projects,
// variables and quotas as the provision host:
//
//   - The consent page picks a demo user, then one of that user's teams;
//     the team query parameter preselects a team the user is in and is
//     ignored otherwise. PKCE S256 is required, as on the login page. Its
//     code exchanges at the shared /oauth/token into "team:{slug}|…", with
//     no expiry or refresh; token_details names the token after the client.
//   - A team token opens /v1 only and a login token /api only; each is 401
//     Unauthenticated on the other API, as is a revoked or unknown token.
//     RevokeToken revokes either kind, as removing the application in the
//     dashboard would; IssueTeamToken mints one without the browser.
//   - A token covers one team: another team's id answers 403 Forbidden,
//     even one its person is in; another team's project or deployment
//     answers 404 like a missing one, so their existence does not leak.
//   - Projects are listed newest first; limit is 1 to 100 (default 100,
//     larger values give 100); the cursor names the last project of its
//     page, so a delete between pages skips nothing.
//   - Deploy keys may share a name; delete_deploy_key removes every key of
//     the name and answers 404 DeployKeyNotFound when there is none. Keys
//     outlive the grant that made them (CONTRACT §3.2) and die with their
//     project. allowedActions is always empty: the keys are unrestricted.
//   - Failure teams fail create_project the same way on both APIs and share
//     its call counter; "authorize-fails" fails create_deploy_key with 403,
//     and "malformed" cuts the answer after the project's slug.
//
// The embeddable dashboard (CONTRACT §2.4) is at /dashboard-embedded/{page}
// for the six pages of the contract: its script (dashboard_embedded.js) asks
// its parent for credentials once, to "*", takes the first well-formed
// "dashboard-credentials" message from its parent, checks the admin key
// with list_environment_variables and shows the variable names. It is the
// one framable page; /dashboard/d/{name} is where external links go.
package sandbox
