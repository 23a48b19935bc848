package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The commands connect and disconnect (clients.go has the clients).

// checkConnect checks connect's arguments: none (the list), or a client.
func checkConnect(c cliArgs) error {
	if len(c.pos) > 1 {
		return errors.New("want one client")
	}
	return checkClient(c)
}

// checkDisconnect checks disconnect's argument: a client.
func checkDisconnect(c cliArgs) error {
	if len(c.pos) != 1 {
		return fmt.Errorf("want one client (%s)", clientIDs())
	}
	return checkClient(c)
}

func checkClient(c cliArgs) error {
	if len(c.pos) == 1 && lookupClient(c.pos[0]) == nil {
		return fmt.Errorf("no client %q (the clients: %s)", c.pos[0], clientIDs())
	}
	return nil
}

// connect connects a client, or lists them all.
func connect(o options, c cliArgs, stdout io.Writer) error {
	t, err := targetFor(o)
	if err != nil {
		return err
	}
	l := systemLayout()
	if len(c.pos) == 0 {
		var states []clientState
		for i := range clients {
			states = append(states, stateOf(&clients[i], l, t))
		}
		printClients(stdout, states, t)
		return nil
	}
	msg, err := connectClient(lookupClient(c.pos[0]), l, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// disconnect removes mcptray's entry from a client's config file.
func disconnect(c cliArgs, stdout io.Writer) error {
	msg, err := disconnectClient(lookupClient(c.pos[0]), systemLayout())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// stateWords is a client's state in a few words.
func (s clientState) stateWords() string {
	switch {
	case !s.Installed:
		return "not installed"
	case s.Problem != "":
		return "config file problem"
	case s.Connected:
		return "connected"
	case s.Other:
		return "connected elsewhere"
	}
	return "not connected"
}

// printClients prints the clients found, and whether each is connected.
func printClients(w io.Writer, states []clientState, t clientTarget) {
	fmt.Fprintf(w, "mcptray: %s\n\n", t.URL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tNAME\tSTATE\tCONFIG FILE")
	var missing, problems []string
	for _, s := range states {
		if !s.Installed {
			missing = append(missing, s.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Name, s.stateWords(), s.File)
		if s.Problem != "" {
			problems = append(problems, s.Name+": "+s.Problem)
		}
	}
	tw.Flush()
	for _, p := range problems {
		fmt.Fprintf(w, "\n%s\n", p)
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "\nNot installed here: %s.\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(w, "\n`mcptray connect CLIENT` connects one (its entry reaches %s); `mcptray disconnect CLIENT` removes it.\n", t.URL)
}
