package node

import "github.com/clusterd/clusterd/allocator"

func newAllocatorForTest() *allocator.Allocator { return allocator.New(allocator.DefaultConfig()) }

func allocatorAgent(id string) allocator.AgentID { return allocator.AgentID(id) }
