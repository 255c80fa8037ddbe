// Package gossip owns cluster membership over memberlist: who is alive,
// their addresses and the small metadata each node gossips about itself
// (Meta), join/update/fail/leave events, and the keyring that encrypts
// gossip. Only node imports it, and it imports nothing of clusterd.
//
// It must not carry large state: memberlist metadata is at most 512 bytes,
// and everything else travels through Raft.
//
// # Clusters never merge
//
// A node that belongs to a cluster (Meta.ClusterID) refuses push/pull
// exchanges and alive messages from nodes of another cluster, so a node whose
// data dir is from cluster A can never pull cluster B into it; Join reports
// that as a *ClusterMismatchError. A node without a cluster id (a new one)
// may join anyone and then calls SetClusterID.
//
// # Encryption
//
// With Config.Keys set, memberlist seals every UDP packet and every TCP
// push/pull stream with AES-GCM under the ring's primary key, and opens
// what arrives with each key of the ring in turn. Anything that opens with
// none of them, plaintext included, is dropped and logged by memberlist
// ("Decrypt packet failed", "remote state is not encrypted"): a process
// without the key can neither join, nor announce members, nor read the
// members' addresses and metadata. Join reports such a refusal as a
// *KeyMismatchError saying which side lacks what. The cluster's keys live in
// the replicated state; the node hands them to gossip. Without keys gossip
// is unencrypted and open to anyone who reaches its port: only --dev (bound
// to 127.0.0.1) and tests run that way, and encryption cannot be switched on
// or off without restarting Membership.
//
// # Rotating the gossip key
//
// A running cluster changes its key in three rounds, each finished on every
// node before the next starts (as Consul and Serf do it):
//
//  1. InstallKey(new) on every node: each can now read the new key and still
//     sends with the old one.
//  2. UseKey(new) on every node: they switch to sending with the new key one
//     by one; the others read it thanks to round 1, and the switched ones
//     still read the old key from those not switched yet.
//  3. RemoveKey(old) on every node: nobody sends with it any more.
//
// Skipping ahead (using a key some node lacks, removing a key some node still
// sends with) makes those nodes unreadable to each other, and the failure
// detector declares them dead within seconds. The node follows the
// replicated keyring with SetKeys, which makes one node's ring equal to the
// list in a safe order (install, use, remove); whoever changes that list
// must still change it in the three rounds above (add the new key; make it
// first; drop the old one), each once it reached every node. A node that was
// down during a rotation and holds only a removed key can no longer join:
// give it the current key.
//
// # Time to declare a crashed node dead (DefaultConfig)
//
// memberlist (SWIM with Lifeguard) probes one member per ProbeInterval
// (500 ms). A probe that gets no ack within ProbeTimeout (250 ms), nor through
// indirect pings and a TCP ping by the end of the interval, makes the member
// suspect. It is declared dead when the suspicion timer runs out:
// min = SuspicionMult (5) × max(1, log10(n)) × ProbeInterval; from 5 nodes up
// the timer starts at SuspicionMaxTimeoutMult (6) × min and shrinks toward
// min as SuspicionMult-2 = 3 other members confirm the suspicion; below 5
// nodes it is min. Add the wait for the first probe (each of the n-1 others
// probes it with probability ~1/(n-1) per interval) and one interval for the
// probe to fail. MinTimeToDeclareDead, ExpectedTimeToDeclareDead and
// MaxTimeToDeclareDead compute these:
//
//	nodes  suspicion timer  earliest  expected  bound (no confirmations)
//	    3  2.5 s            3.0 s     3.4 s      4.5 s
//	   10  2.5 s .. 15 s    3.0 s     3.5 s     20.5 s
//	  100  5 s .. 30 s      5.5 s     6.0 s     35.5 s
//	1,000  7.5 s .. 45 s    8.0 s     8.5 s     50.5 s
//
// "expected" assumes the confirmations arrive before min runs out, which
// memberlist's choice of 3 confirmations is designed for; "bound" assumes
// none arrive and the first probe comes within min(2(n-1)-1, 10) intervals
// (more is about a 1-in-20,000 event). A struggling prober stretches its own
// probe interval up to 8× (Lifeguard awareness), which is not in the table.
//
// # A paused node is not declared dead
//
// A node that stops for 2 s (a GC or VM pause, SIGSTOP) becomes suspect at
// the earliest one probe interval after it stopped, and cannot be declared
// dead before the suspicion timer (at least 2.5 s) runs out: 3 s after it
// stopped at the earliest. When it resumes it reads the pings and suspect
// messages queued in its socket buffers and refutes the suspicion with a
// higher incarnation, which reaches the others within a few gossip intervals
// (100 ms): about a second to spare. A pause of more than about 2.5 s may be
// declared dead; the node then rejoins on its own (MemberJoin), and node
// adds a grace period before tasks are marked lost.
package gossip
