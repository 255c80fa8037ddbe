package node

import (
	"maps"
	"slices"

	"github.com/clusterd/clusterd/allocator"
	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/raftfsm"
	"github.com/clusterd/clusterd/web/mesos"
)

// masterState is the v0 /master/state document: what Mesos-DNS,
// marathon-lb and Mesos dashboards read to find agents, frameworks and
// their tasks.
func (l *leaderLoop) masterState() *mesos.MasterState {
	v := l.n.fsm.View()
	host, port := splitAddr(l.n.httpAddr)
	pid := "master@" + l.n.httpAddr
	elected := seconds(l.started)
	st := &mesos.MasterState{
		Version: l.n.cfg.Version, StartTime: seconds(l.n.started), ElectedTime: &elected,
		ID: l.n.id, PID: pid, Hostname: host, Leader: pid, Cluster: v.ClusterID(),
		LeaderInfo: &mesos.V0MasterInfo{ID: l.n.id, PID: pid, Port: uint32(port), Hostname: host},
		Flags:      map[string]string{"allocation_interval": l.n.cfg.AllocationInterval.String(), "offer_timeout": l.n.cfg.OfferTimeout.String()},
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, nd := range v.Nodes() {
		switch nd.State {
		case raftfsm.NodeDown, raftfsm.NodeLeft:
			continue
		case raftfsm.NodeReady:
			st.ActivatedSlaves++
		default:
			st.DeactivatedSlaves++
		}
		id := allocator.AgentID(nd.ID)
		parsed := nodeResources(nd)
		_, aport := splitAddr(nd.HTTPAddr)
		st.Slaves = append(st.Slaves, mesos.V0Slave{
			ID: nd.ID, Hostname: nd.Name, Port: aport, PID: "slave(1)@" + nd.HTTPAddr,
			Attributes: mesos.V0Attributes(attributesOf(nd.Attributes)), RegisteredTime: seconds(nd.RegisteredAt),
			Resources: mesos.V0Amounts(parsed.Total()), UsedResources: mesos.V0Amounts(allocToAmounts(l.alloc.AgentAllocated(id))),
			OfferedResources: mesos.V0Amounts(allocToAmounts(l.alloc.AgentOffered(id))), ReservedResources: mesos.V0ReservedResources(parsed),
			UnreservedResources: mesos.V0Amounts(parsed.Unreserved), Active: nd.State == raftfsm.NodeReady,
			Deactivated: nd.State != raftfsm.NodeReady, Version: nd.Version,
		})
	}
	allocated, offered := l.frameworkHoldings()
	byFW := map[string][]*raftfsm.Task{}
	for _, t := range v.Tasks() {
		byFW[t.Framework] = append(byFW[t.Framework], t)
	}
	jobsFW := mesos.V0Framework{ID: jobs.FrameworkID, Name: "clusterd jobs", User: "root", Hostname: l.n.cfg.NodeName,
		Active: true, Connected: true, Checkpoint: true, Capabilities: []string{mesos.CapabilityMultiRole},
		RegisteredTime: seconds(l.started), Roles: sortedKeys(l.jobRoles)}
	st.Frameworks = append(st.Frameworks, l.v0Framework(jobsFW, byFW[jobs.FrameworkID], allocated, offered, nil))
	for _, fw := range v.Frameworks() {
		fi := frameworkInfo(fw)
		c := l.sched.conns[fw.ID]
		f := mesos.V0Framework{ID: fw.ID, Name: fw.Name, User: fw.User, Principal: fw.Principal, Active: c != nil, Connected: c != nil,
			FailoverTimeout: fw.FailoverTimeout, Checkpoint: true, Capabilities: fw.Capabilities, RegisteredTime: seconds(fw.RegisteredAt), Roles: fw.Roles}
		if fi.Hostname != nil {
			f.Hostname = *fi.Hostname
		}
		if fi.WebuiURL != nil {
			f.WebuiURL = *fi.WebuiURL
		}
		if !fw.ReregisteredAt.IsZero() {
			r := seconds(fw.ReregisteredAt)
			f.ReregisteredTime = &r
		}
		if fw.Removed() {
			f.UnregisteredTime = seconds(fw.RemovedAt)
			st.CompletedFrameworks = append(st.CompletedFrameworks, l.v0Framework(f, byFW[fw.ID], nil, nil, nil))
			continue
		}
		st.Frameworks = append(st.Frameworks, l.v0Framework(f, byFW[fw.ID], allocated, offered, c))
	}
	return st
}

// v0Framework fills in a v0 framework's tasks, resources and offers; l.mu
// is held.
func (l *leaderLoop) v0Framework(f mesos.V0Framework, tasks []*raftfsm.Task, allocated, offered map[string]allocator.Resources, c *fwConn) mesos.V0Framework {
	f.UsedResources = mesos.V0Amounts(allocToAmounts(allocated[f.ID]))
	f.Resources = f.UsedResources
	f.OfferedResources = mesos.V0Amounts(allocToAmounts(offered[f.ID]))
	for _, t := range tasks {
		vt := mesos.V0Task{ID: t.ID, Name: t.Name, FrameworkID: t.Framework, SlaveID: t.Node, State: t.State,
			Resources: mesos.V0Amounts(fsmToAmounts(t.Resources)), Role: t.AllocationRole(), User: t.User}
		if vt.Name == "" {
			vt.Name = t.ID
		}
		for _, s := range t.History {
			vt.Statuses = append(vt.Statuses, mesos.V0TaskStatus{State: s.State, Timestamp: seconds(s.Time)})
		}
		if t.Active() {
			f.Tasks = append(f.Tasks, vt)
		} else {
			f.CompletedTasks = append(f.CompletedTasks, vt)
		}
	}
	if c != nil {
		for _, r := range c.roles {
			role := r
			for _, o := range l.alloc.FrameworkOffers(clientID(c.id, r)) {
				f.Offers = append(f.Offers, mesos.V0Offer{ID: string(o.ID), FrameworkID: c.id, SlaveID: string(o.Agent),
					AllocationInfo: mesos.AllocationInfo{Role: &role}, Resources: mesos.V0Amounts(allocToAmounts(o.Resources))})
			}
		}
	}
	return f
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
