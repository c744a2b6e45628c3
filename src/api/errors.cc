#include "api/errors.h"

namespace vigie::api {

std::pair<const char*, int> MatrixErrcode(const Error& e) {
  std::pair<const char*, int> r{"M_UNKNOWN", 400};
  switch (e.code()) {
    case ErrorCode::kForbidden:
      r = {"M_FORBIDDEN", 403};
      break;
    case ErrorCode::kUnknownToken:
      r = {"M_UNKNOWN_TOKEN", 401};
      break;
    case ErrorCode::kMissingToken:
      r = {"M_MISSING_TOKEN", 401};
      break;
    case ErrorCode::kUserLocked:
      r = {"M_USER_LOCKED", 401};
      break;
    case ErrorCode::kUserDeactivated:
      r = {"M_USER_DEACTIVATED", 403};
      break;
    case ErrorCode::kBadJson:
      r = {"M_BAD_JSON", 400};
      break;
    case ErrorCode::kNotJson:
      r = {"M_NOT_JSON", 400};
      break;
    case ErrorCode::kNotFound:
      r = {"M_NOT_FOUND", 404};
      break;
    case ErrorCode::kLimitExceeded:
      r = {"M_LIMIT_EXCEEDED", 429};
      break;
    case ErrorCode::kUnrecognized:
      r = {"M_UNRECOGNIZED", 404};
      break;
    case ErrorCode::kUnknown:
      r = {"M_UNKNOWN", 400};
      break;
    case ErrorCode::kUserInUse:
      r = {"M_USER_IN_USE", 400};
      break;
    case ErrorCode::kInvalidUsername:
      r = {"M_INVALID_USERNAME", 400};
      break;
    case ErrorCode::kExclusive:
      r = {"M_EXCLUSIVE", 400};
      break;
    case ErrorCode::kTooLarge:
      r = {"M_TOO_LARGE", 413};
      break;
    case ErrorCode::kInvalidParam:
      r = {"M_INVALID_PARAM", 400};
      break;
    case ErrorCode::kMissingParam:
      r = {"M_MISSING_PARAM", 400};
      break;
    case ErrorCode::kWeakPassword:
      r = {"M_WEAK_PASSWORD", 400};
      break;
    case ErrorCode::kRoomInUse:
      r = {"M_ROOM_IN_USE", 400};
      break;
    case ErrorCode::kUnsupportedRoomVersion:
      r = {"M_UNSUPPORTED_ROOM_VERSION", 400};
      break;
    case ErrorCode::kIncompatibleRoomVersion:
      r = {"M_INCOMPATIBLE_ROOM_VERSION", 400};
      break;
    case ErrorCode::kBadState:
      r = {"M_BAD_STATE", 400};
      break;
    case ErrorCode::kGuestAccessForbidden:
      r = {"M_GUEST_ACCESS_FORBIDDEN", 403};
      break;
    case ErrorCode::kUnauthorized:
      r = {"M_UNAUTHORIZED", 401};
      break;
    case ErrorCode::kThreepidNotFound:
      r = {"M_THREEPID_NOT_FOUND", 400};
      break;
    case ErrorCode::kBadAlias:
      r = {"M_BAD_ALIAS", 400};
      break;
    case ErrorCode::kResourceLimitExceeded:
      r = {"M_RESOURCE_LIMIT_EXCEEDED", 403};
      break;
    case ErrorCode::kInvalidSignature:
      r = {"M_INVALID_SIGNATURE", 400};
      break;
    case ErrorCode::kUnavailable:
      r = {"M_UNKNOWN", 503};
      break;
    case ErrorCode::kInternal:
      r = {"M_UNKNOWN", 500};
      break;
    case ErrorCode::kUiaRequired:
      r = {"M_FORBIDDEN", 401};
      break;
    case ErrorCode::kCannotOverwriteMedia:
      r = {"M_CANNOT_OVERWRITE_MEDIA", 409};
      break;
    case ErrorCode::kNotYetUploaded:
      r = {"M_NOT_YET_UPLOADED", 504};
      break;
    case ErrorCode::kWrongRoomKeysVersion:
      r = {"M_WRONG_ROOM_KEYS_VERSION", 403};
      break;
  }
  if (e.status_override()) r.second = e.status_override();
  return r;
}

http::Response ErrorResponse(const Error& e) {
  auto [errcode, status] = MatrixErrcode(e);
  if (e.code() == ErrorCode::kUiaRequired) return http::Response::Json(status, e.extra());
  boost::json::object body = e.extra();
  body["errcode"] = errcode;
  body["error"] = e.message();
  http::Response res = http::Response::Json(status, body);
  if (auto it = e.extra().find("retry_after_ms"); it != e.extra().end() && it->value().is_int64()) {
    res.headers.emplace_back("Retry-After", std::to_string((it->value().get_int64() + 999) / 1000));
  }
  return res;
}

}  // namespace vigie::api
