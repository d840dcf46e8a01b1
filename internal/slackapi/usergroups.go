package slackapi

import "slices"

// slackbotUserID is who created the stand-in's user groups, as Slack
// reports groups it made itself.
const slackbotUserID = "USLACKBOT"

// setUserGroup adds g, or replaces the group with its ID. Callers hold s.mu
// (or are New).
func (s *Server) setUserGroup(g UserGroup) {
	if g.ID == "" {
		return
	}
	g.Users = slices.Clone(g.Users)
	if _, dup := s.groups[g.ID]; !dup {
		s.groupSeq = append(s.groupSeq, g.ID)
	}
	s.groups[g.ID] = g
}

// SetUserGroup adds g, or replaces the group with g's ID (its members,
// handle, name, or disabling it), as a workspace admin would; the next
// usergroups.* call sees the change.
func (s *Server) SetUserGroup(g UserGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setUserGroup(g)
}

// UserGroups returns the user groups, disabled ones included, in the order
// they were added.
func (s *Server) UserGroups() []UserGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UserGroup, 0, len(s.groupSeq))
	for _, id := range s.groupSeq {
		g := s.groups[id]
		g.Users = slices.Clone(g.Users)
		out = append(out, g)
	}
	return out
}

// wireUserGroup renders g as Slack's usergroup object; users and count say
// whether include_users and include_count asked for the members and their
// number.
func (s *Server) wireUserGroup(g UserGroup, users, count bool) map[string]any {
	name := g.Name
	if name == "" {
		name = g.Handle
	}
	created := s.created.Unix()
	w := map[string]any{
		"id":           g.ID,
		"team_id":      TeamID,
		"is_usergroup": true,
		"is_subteam":   true,
		"name":         name,
		"description":  "",
		"handle":       g.Handle,
		"is_external":  false,
		"date_create":  created,
		"date_update":  created,
		"date_delete":  0,
		"auto_type":    nil,
		"created_by":   slackbotUserID,
		"updated_by":   slackbotUserID,
		"deleted_by":   nil,
		"prefs":        map[string]any{"channels": []string{}, "groups": []string{}},
	}
	if g.Disabled {
		w["date_delete"], w["deleted_by"] = created, slackbotUserID
	}
	if users {
		w["users"] = nonNil(g.Users)
	}
	if count {
		w["user_count"] = len(g.Users)
	}
	return w
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return slices.Clone(ids)
}

// usergroupsList lists the workspace's user groups, enabled ones only
// unless include_disabled; include_users adds each one's members and
// include_count their number.
func (s *Server) usergroupsList(q *request) (map[string]any, error) {
	disabled, users, count := q.flag("include_disabled"), q.flag("include_users"), q.flag("include_count")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.groupSeq))
	for _, id := range s.groupSeq {
		g := s.groups[id]
		if g.Disabled && !disabled {
			continue
		}
		out = append(out, s.wireUserGroup(g, users, count))
	}
	return map[string]any{"usergroups": out}, nil
}

// usergroupsUsersList answers a group's members: {"users": ["U…", …]},
// an empty list for a group without members. An unknown group is
// no_such_subteam, and so is a disabled one unless include_disabled is set
// (Slack does not document what it answers for one; deploybot handles an
// error and an empty list alike).
func (s *Server) usergroupsUsersList(q *request) (map[string]any, error) {
	id := q.get("usergroup")
	if id == "" {
		return nil, slackErr("invalid_arguments", "[ERROR] missing required field: usergroup")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok || g.Disabled && !q.flag("include_disabled") {
		return nil, slackErr("no_such_subteam")
	}
	return map[string]any{"users": nonNil(g.Users)}, nil
}
