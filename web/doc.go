// Package web serves the server's HTTP listener: /metrics in the
// Prometheus text format, /healthz and /readyz for load balancers and
// systemd, and an administrators' dashboard (overview, per-account backup
// timeline drawn as SVG on the server, the operation queue, volumes, and
// restores submitted as operations) behind a login.
//
// Producers are never told about Prometheus: the redo log, the LMTP and
// IMAP servers and the operations manager take small hooks (func fields or
// observer interfaces in their Options) that Metrics implements, and the
// backup, volume and queue figures are read from their status APIs at
// scrape time through the Source and Ops interfaces that cmd/tidemark
// implements over the running server.
//
// The dashboard keeps its sessions in memory (a restart logs everyone
// out). Session cookies are Secure, HttpOnly and SameSite=Strict; every
// POST, the login included, carries a CSRF token checked in constant time;
// failed logins are limited per client address and per account. Templates
// and the style sheet are embedded: no build step, nothing from a CDN.
package web
