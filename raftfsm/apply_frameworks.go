package raftfsm

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// maxRemovedFrameworks bounds the records kept of removed frameworks (for
// the operator API's completed frameworks, and to refuse their ids).
const maxRemovedFrameworks = 64

func applySubscribeFramework(txn *memdb.Txn, c *SubscribeFramework) *Result {
	fw := c.Framework
	if fw.ID == "" {
		return &Result{Err: fmt.Errorf("subscribe framework: empty id")}
	}
	old := frameworkOf(txn, fw.ID)
	switch {
	case old != nil && old.Removed():
		return &Result{Err: fmt.Errorf("framework %s was removed (%s); subscribe without an id to register a new framework", fw.ID, old.RemovedReason)}
	case old == nil && c.Update:
		return &Result{Err: fmt.Errorf("framework %s is not registered; subscribe first", fw.ID)}
	case old == nil:
		fw.RegisteredAt, fw.ReregisteredAt, fw.DisconnectedAt = c.At, time.Time{}, time.Time{}
	case c.Update:
		fw.RegisteredAt, fw.ReregisteredAt, fw.DisconnectedAt = old.RegisteredAt, old.ReregisteredAt, old.DisconnectedAt
	default:
		fw.RegisteredAt, fw.ReregisteredAt, fw.DisconnectedAt = old.RegisteredAt, c.At, time.Time{}
	}
	fw.RemovedAt, fw.RemovedReason = time.Time{}, ""
	mustInsert(txn, tableFWs, &fw)
	return &Result{Framework: &fw}
}

func applyDisconnectFramework(txn *memdb.Txn, c *DisconnectFramework) *Result {
	old := frameworkOf(txn, c.ID)
	if old == nil || old.Removed() {
		return &Result{Err: fmt.Errorf("framework %s is not registered", c.ID)}
	}
	fw := *old
	fw.DisconnectedAt = c.At
	mustInsert(txn, tableFWs, &fw)
	return &Result{Framework: &fw}
}

// applyRemoveFramework marks the framework removed, asks for its active
// tasks to be killed and drops the updates it will never acknowledge.
func applyRemoveFramework(txn *memdb.Txn, c *RemoveFramework) *Result {
	old := frameworkOf(txn, c.ID)
	if old == nil || old.Removed() {
		return &Result{Err: fmt.Errorf("framework %s is not registered", c.ID)}
	}
	fw := *old
	fw.RemovedAt, fw.RemovedReason = c.At, c.Reason
	if fw.RemovedReason == "" {
		fw.RemovedReason = "removed"
	}
	mustInsert(txn, tableFWs, &fw)
	res := &Result{Framework: &fw}
	it, err := txn.Get(tableTasks, "framework", c.ID)
	if err != nil {
		panic(fmt.Sprintf("raftfsm: tasks of framework %s: %v", c.ID, err))
	}
	var tasks []*Task
	for raw := it.Next(); raw != nil; raw = it.Next() {
		tasks = append(tasks, raw.(*Task))
	}
	for _, t := range tasks {
		nt := *t
		nt.Unacked = nil
		if nt.Active() && !nt.KillRequested {
			nt.KillRequested = true
			nt.UpdatedAt = c.At
			nt.KillReason = "framework removed"
			res.Killed = append(res.Killed, &nt)
		}
		if len(t.Unacked) > 0 || nt.KillRequested != t.KillRequested {
			mustInsert(txn, tableTasks, &nt)
		}
	}
	pruneRemovedFrameworks(txn)
	return res
}

// pruneRemovedFrameworks deletes the oldest removed frameworks beyond
// maxRemovedFrameworks (by removal time, then id: the same on every server).
func pruneRemovedFrameworks(txn *memdb.Txn) {
	it, err := txn.Get(tableFWs, "id")
	if err != nil {
		panic(fmt.Sprintf("raftfsm: frameworks: %v", err))
	}
	var removed []*Framework
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if fw := raw.(*Framework); fw.Removed() {
			removed = append(removed, fw)
		}
	}
	if len(removed) <= maxRemovedFrameworks {
		return
	}
	slices.SortFunc(removed, func(a, b *Framework) int {
		if c := a.RemovedAt.Compare(b.RemovedAt); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	for _, fw := range removed[:len(removed)-maxRemovedFrameworks] {
		if err := txn.Delete(tableFWs, fw); err != nil {
			panic(fmt.Sprintf("raftfsm: delete framework %s: %v", fw.ID, err))
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func applyAcknowledge(txn *memdb.Txn, c *Acknowledge) *Result {
	res := &Result{}
	for _, ack := range c.Acks {
		raw, _ := txn.First(tableTasks, "id", ack.TaskID)
		if raw == nil {
			res.Rejected++
			continue
		}
		t := raw.(*Task)
		if t.Framework != ack.Framework || len(t.Unacked) == 0 || !bytes.Equal(t.Unacked[0].UUID, ack.UUID) {
			res.Rejected++
			continue
		}
		nt := *t
		nt.Unacked = slices.Clone(t.Unacked[1:])
		if len(nt.Unacked) == 0 {
			nt.Unacked = nil
		}
		mustInsert(txn, tableTasks, &nt)
	}
	return res
}

func applyUpdateRoles(txn *memdb.Txn, c *UpdateRoles) *Result {
	for _, u := range c.Updates {
		switch {
		case u.Role == "":
			return &Result{Err: fmt.Errorf("update roles: empty role name")}
		case u.Weight != nil && (!(*u.Weight > 0) || math.IsInf(*u.Weight, 0)):
			return &Result{Err: fmt.Errorf("update role %q: weight %v is not a positive number", u.Role, *u.Weight)}
		case u.Quota != nil && (!u.Quota.valid() || len(u.Quota.Ports) > 0):
			return &Result{Err: fmt.Errorf("update role %q: quota must be non-negative cpus, mem, disk or gpus", u.Role)}
		case u.Quota != nil && !u.Quota.isZero() && u.Role == "*":
			return &Result{Err: fmt.Errorf("update role %q: the default role has no quota", u.Role)}
		}
	}
	for _, u := range c.Updates {
		r := Role{Name: u.Role}
		if raw, _ := txn.First(tableRoles, "id", u.Role); raw != nil {
			r = *raw.(*Role)
		}
		if u.Weight != nil {
			r.Weight = *u.Weight
		}
		if u.Quota != nil {
			r.Quota = *u.Quota
		}
		r.UpdatedAt = c.At
		if (r.Weight == 0 || r.Weight == 1) && r.Quota.isZero() {
			if err := txn.Delete(tableRoles, &r); err != nil && err != memdb.ErrNotFound {
				panic(fmt.Sprintf("raftfsm: delete role %s: %v", r.Name, err))
			}
			continue
		}
		mustInsert(txn, tableRoles, &r)
	}
	return &Result{}
}

func applyReserveResources(txn *memdb.Txn, c *ReserveResources) *Result {
	res := &Result{}
	for _, op := range c.Ops {
		raw, _ := txn.First(tableNodes, "id", op.Node)
		if raw == nil || op.Role == "" || op.Role == "*" || !op.Resources.valid() || op.Resources.isZero() {
			res.Rejected++
			continue
		}
		n := *raw.(*Node)
		dyn := make(map[string]Resources, len(n.Dynamic)+1)
		for role, r := range n.Dynamic {
			dyn[role] = r
		}
		if op.Unreserve {
			have := dyn[op.Role]
			if !have.contains(op.Resources) {
				res.Rejected++
				continue
			}
			if left := have.sub(op.Resources); left.isZero() {
				delete(dyn, op.Role)
			} else {
				dyn[op.Role] = left
			}
		} else {
			free := n.Total
			for _, r := range n.Reserved {
				free = free.sub(r)
			}
			for _, r := range n.Dynamic {
				free = free.sub(r)
			}
			if !free.contains(op.Resources) {
				res.Rejected++
				continue
			}
			dyn[op.Role] = dyn[op.Role].add(op.Resources)
		}
		n.Dynamic = dyn
		if len(dyn) == 0 {
			n.Dynamic = nil
		}
		n.UpdatedAt = c.At
		mustInsert(txn, tableNodes, &n)
	}
	return res
}
