package hub

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/mcptray/mcptray/hub/internal/rawjson"
)

// This file routes tasks (2025-11-25's experimental tasks, 2026-07-28's
// tasks extension): a task's id is its server's, so the hub remembers which
// server made each task it passed on, and sends tasks/get, tasks/update,
// tasks/cancel and tasks/result there.

// maxTasks bounds the tasks the hub remembers; the oldest go first.
const maxTasks = 10000

type taskTable struct {
	mu    sync.Mutex // guards owner and order
	owner map[string]*upstream
	order []string
}

// record notes the task of a result (2026: resultType "task" with taskId;
// 2025-11-25: a CreateTaskResult's task.taskId).
func (t *taskTable) record(result []byte, u *upstream) {
	id, ok := rawjson.String(result, "taskId")
	if !ok {
		task, _ := rawjson.Get(result, "task")
		id, ok = rawjson.String(task, "taskId")
	}
	if !ok || id == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.owner == nil {
		t.owner = map[string]*upstream{}
	}
	if _, known := t.owner[id]; !known {
		t.order = append(t.order, id)
	}
	t.owner[id] = u
	for len(t.order) > maxTasks {
		delete(t.owner, t.order[0])
		t.order = t.order[1:]
	}
}

func (t *taskTable) find(id string) *upstream {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.owner[id]
}

// forwardTask sends a task request to the server that made the task.
func (v *view) forwardTask(ctx context.Context, c *caller, m *message, o out) {
	id := m.param("taskId")
	u := v.h.tasks.find(id)
	if u == nil || !v.shows(u) {
		v.fail(c, m, o, newError(codeInvalidParams, "no task "+id+" here (mcptray knows the tasks it passed on since it started)"))
		return
	}
	// The tasks extension mirrors taskId into Mcp-Name (server@2 insists).
	v.forwardParams(ctx, c, m, o, u, m.params, id)
}

// listTasks serves tasks/list (2025-11-25): every member's tasks together.
func (v *view) listTasks(ctx context.Context, c *caller, m *message, o out) {
	var all []json.RawMessage
	for _, u := range v.cat.Load().members {
		s := u.session()
		if s == nil || !s.caps.tasks || s.modern {
			continue
		}
		res, err := s.roundTrip(ctx, c, "tasks/list", nil, "")
		if err != nil {
			continue
		}
		var page struct {
			Tasks []json.RawMessage `json:"tasks"`
		}
		if json.Unmarshal(res, &page) == nil {
			all = append(all, page.Tasks...)
			for _, t := range page.Tasks {
				v.h.tasks.record(t, u)
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"tasks": all})
	v.answer(c, m, o, b)
}
