package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"chefdeploy/convex"
	"chefdeploy/models"
)

// usageRequest is the body of POST /api/usage.
type usageRequest struct {
	AppID       string `json:"appId"`
	Centitokens int64  `json:"centitokens"`
}

// maxCentitokens bounds one report; anything larger is a mistake.
const maxCentitokens = 1_000_000_000_000

// apiUsage lets the rest of the builder record the tokens an app used: it is
// forwarded to record_tokens for the app's team. It is authenticated by the
// owner's API token, never by the browser session.
func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request) {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || token == "" {
		writeJSONError(w, http.StatusUnauthorized, "Send an API token as Authorization: Bearer <token>.")
		return
	}
	userID, err := models.UserByAPIToken(r.Context(), s.db, strings.TrimSpace(token))
	if errors.Is(err, models.ErrNotFound) {
		writeJSONError(w, http.StatusUnauthorized, "The API token is not valid or was revoked.")
		return
	}
	if err != nil {
		s.log.Error("api token lookup", "request_id", RequestID(r.Context()), "err", err)
		writeJSONError(w, http.StatusInternalServerError, "Something went wrong; try again.")
		return
	}
	meter := s.backend.Usage()
	if meter == nil {
		writeJSONError(w, http.StatusNotFound, "Token usage is not recorded in this mode: Convex's public API has no usage meter.")
		return
	}
	var req usageRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, `The body must be JSON: {"appId": "...", "centitokens": 123}.`)
		return
	}
	if req.Centitokens <= 0 || req.Centitokens > maxCentitokens {
		writeJSONError(w, http.StatusBadRequest, "centitokens must be a positive whole number.")
		return
	}
	app, err := models.AppByRef(r.Context(), s.db, userID, req.AppID)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "No such app.")
		return
	}
	conn, err := models.ConnectionByApp(r.Context(), s.db, app.ID)
	if err != nil || conn.State != models.StateConnected {
		writeJSONError(w, http.StatusConflict, "The app is not connected to a Convex team.")
		return
	}
	work, err := models.ConnectionForWork(r.Context(), s.db, app.ID)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "Something went wrong; try again.")
		return
	}
	userToken, err := s.cfg.Credentials.OpenString(work.OwnerToken, models.UserTokenPurpose(userID))
	if err != nil {
		writeJSONError(w, http.StatusConflict, "The app's owner must sign in to chefdeploy again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	usage, err := meter.RecordTokens(ctx, userToken, conn.TeamSlug, req.Centitokens)
	if err != nil {
		s.log.Warn("record_tokens failed", "request_id", RequestID(r.Context()), "err", err)
		writeJSONError(w, http.StatusBadGateway, convex.UserMessage(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"centitokensUsed": usage.CentitokensUsed, "centitokensQuota": usage.CentitokensQuota})
}
