// Package browsertest drives the lroweb console in headless Chromium
// (chromedp). It is a module of its own so that the lro module never
// requires chromedp. Run it with
//
//	cd lroweb/browsertest && go test ./...
//
// It skips when no Chromium is installed, unless CI is set; .ci/install-chromium
// installs Debian's chromium package. LRO_CHROMIUM names the binary to use.
// With LRO_SCREENSHOTS=dir, TestScreenshots writes the README's screenshots
// of the console there.
package browsertest
