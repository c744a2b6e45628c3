// The one error type of vigie. Services throw it; the API edge
// (api/errors.cc) maps its code to a Matrix errcode and HTTP status.
#pragma once

#include <boost/json.hpp>
#include <exception>
#include <string>

namespace vigie {

enum class ErrorCode {
  kForbidden,                // M_FORBIDDEN 403
  kUnknownToken,             // M_UNKNOWN_TOKEN 401
  kMissingToken,             // M_MISSING_TOKEN 401
  kUserLocked,               // M_USER_LOCKED 401
  kUserDeactivated,          // M_USER_DEACTIVATED 403
  kBadJson,                  // M_BAD_JSON 400
  kNotJson,                  // M_NOT_JSON 400
  kNotFound,                 // M_NOT_FOUND 404
  kLimitExceeded,            // M_LIMIT_EXCEEDED 429
  kUnrecognized,             // M_UNRECOGNIZED 404 (405 for a wrong method)
  kUnknown,                  // M_UNKNOWN 400
  kUserInUse,                // M_USER_IN_USE 400
  kInvalidUsername,          // M_INVALID_USERNAME 400
  kExclusive,                // M_EXCLUSIVE 400
  kTooLarge,                 // M_TOO_LARGE 413
  kInvalidParam,             // M_INVALID_PARAM 400
  kMissingParam,             // M_MISSING_PARAM 400
  kWeakPassword,             // M_WEAK_PASSWORD 400
  kRoomInUse,                // M_ROOM_IN_USE 400
  kUnsupportedRoomVersion,   // M_UNSUPPORTED_ROOM_VERSION 400
  kIncompatibleRoomVersion,  // M_INCOMPATIBLE_ROOM_VERSION 400
  kBadState,                 // M_BAD_STATE 400
  kGuestAccessForbidden,     // M_GUEST_ACCESS_FORBIDDEN 403
  kUnauthorized,             // M_UNAUTHORIZED 401
  kThreepidNotFound,         // M_THREEPID_NOT_FOUND 400
  kBadAlias,                 // M_BAD_ALIAS 400
  kResourceLimitExceeded,    // M_RESOURCE_LIMIT_EXCEEDED 403
  kInvalidSignature,         // M_INVALID_SIGNATURE 400
  kUnavailable,              // M_UNKNOWN 503 (overloaded, shutting down)
  kInternal,                 // M_UNKNOWN 500
  kUiaRequired,              // 401, body is extra() only (flows, session, ...)
  kCannotOverwriteMedia,     // M_CANNOT_OVERWRITE_MEDIA 409
  kNotYetUploaded,           // M_NOT_YET_UPLOADED 504
  kWrongRoomKeysVersion,     // M_WRONG_ROOM_KEYS_VERSION 403
};

class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, int status_override = 0)
      : code_(code), message_(std::move(message)), status_override_(status_override) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const char* what() const noexcept override { return message_.c_str(); }
  // 0 means "the usual status for this code".
  int status_override() const { return status_override_; }
  // Extra top-level fields of the error body (retry_after_ms, soft_logout, ...).
  boost::json::object& extra() { return extra_; }
  const boost::json::object& extra() const { return extra_; }
  Error&& with(std::string_view key, boost::json::value v) && {
    extra_[key] = std::move(v);
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
  int status_override_;
  boost::json::object extra_;
};

inline Error Forbidden(std::string m) { return {ErrorCode::kForbidden, std::move(m)}; }
inline Error BadJson(std::string m) { return {ErrorCode::kBadJson, std::move(m)}; }
inline Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Error InvalidParam(std::string m) { return {ErrorCode::kInvalidParam, std::move(m)}; }
inline Error MissingParam(std::string m) { return {ErrorCode::kMissingParam, std::move(m)}; }
inline Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
inline Error LimitExceeded(long retry_after_ms) {
  return Error(ErrorCode::kLimitExceeded, "Too many requests")
      .with("retry_after_ms", retry_after_ms);
}

}  // namespace vigie
