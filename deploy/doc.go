// SPDX-License-Identifier: Apache-2.0

// Package deploy holds the deployment tests: the unit files in units/, the
// image built by image/build.sh, and nspawn/nspawn-container under a real
// systemd-nspawn. They run as root and install systemd-container and
// python3-yaml with apt-get when missing; `go test ./deploy`.
package deploy
