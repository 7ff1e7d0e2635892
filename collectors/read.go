// SPDX-License-Identifier: Apache-2.0

package collectors

import "os"

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
