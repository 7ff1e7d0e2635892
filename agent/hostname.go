// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"os"
	"strings"
)

// SmartHostname is Diamond's default hostname method ("smart"): the host
// name up to its first dot. Inside nspawn the agent shares the host's UTS
// namespace (SYSTEMD_NSPAWN_SHARE_NS_UTS=1), so this is the host's name;
// units that cannot share it pass --hostname %H instead. Diamond asks DNS for
// the FQDN first; we do not, so a cycle never waits on a resolver.
func SmartHostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	short, _, _ := strings.Cut(h, ".")
	if short == "" {
		return h, nil
	}
	return short, nil
}
