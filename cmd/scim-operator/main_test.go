package main

import "testing"

func TestAdvertiseURL(t *testing.T) {
	cases := []struct {
		bind, podIP string
		tls         bool
		want        string
	}{
		{":8443", "10.1.2.3", true, "https://10.1.2.3:8443"},
		{"0.0.0.0:8443", "10.1.2.3", false, "http://10.1.2.3:8443"},
		{"[::]:8443", "fd00::5", true, "https://[fd00::5]:8443"},
		{"127.0.0.1:9000", "10.1.2.3", true, "https://127.0.0.1:9000"},
	}
	for _, c := range cases {
		if got, err := advertiseURL(c.bind, c.podIP, c.tls); err != nil || got != c.want {
			t.Errorf("advertiseURL(%q, %q, %v) = %q, %v; want %q", c.bind, c.podIP, c.tls, got, err, c.want)
		}
	}
	if got, err := advertiseURL(":8443", "", true); err == nil {
		t.Errorf("no host and no POD_IP gave %q, want an error", got)
	}
}
