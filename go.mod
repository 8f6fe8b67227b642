module github.com/mailslot/mailslot

go 1.26.8

require (
	github.com/godbus/dbus/v5 v5.2.4 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
