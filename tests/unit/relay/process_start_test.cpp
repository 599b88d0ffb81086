// The processes' shared start-up (relay/config/process_start.hpp): the identity key is
// created once, privately, and a key file others can read is refused with the fix.
#include "relay/config/process_start.hpp"
#include "relay/config/privilege.hpp"

#include <gtest/gtest.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace relay::config {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/stacks-relay-start-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(IdentityKey, CreatedOncePrivatelyAndReadBack) {
  TempDir d;
  const std::string path = d.path + "/state/keys/identity.key";  // its directories too
  std::string err;
  EXPECT_FALSE(load_identity_key(path, false, err).has_value());
  EXPECT_NE(err.find("no identity key"), std::string::npos) << err;
  auto k = load_identity_key(path, true, err);
  ASSERT_TRUE(k.has_value()) << err;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((d.path + "/state/keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto again = load_identity_key(path, true, err);  // the same key, not a new one
  ASSERT_TRUE(again.has_value()) << err;
  EXPECT_EQ(again->bytes(), k->bytes());
}

TEST(IdentityKey, AKeyOthersCanReadIsRefusedWithTheFix) {
  TempDir d;
  const std::string path = d.path + "/identity.key";
  std::string err;
  ASSERT_TRUE(load_identity_key(path, true, err).has_value()) << err;
  for (mode_t m : {0644u, 0640u, 0604u, 0660u}) {
    ASSERT_EQ(::chmod(path.c_str(), m), 0);
    EXPECT_FALSE(load_identity_key(path, true, err).has_value()) << std::oct << m;
    EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // owner-only, read-only: fine
  EXPECT_TRUE(load_identity_key(path, true, err).has_value()) << err;
}

// A start-up name lookup that failed: a name that does not exist is a configuration
// error (not restarted); a name server that did not answer is temporary (restarted).
TEST(ExitStatus, NameLookupFailuresTellTemporaryFromPermanent) {
  EXPECT_EQ(resolve_failure(EAI_AGAIN).status, kExitFailure);
  EXPECT_EQ(resolve_failure(EAI_FAIL).status, kExitFailure);
  EXPECT_EQ(resolve_failure(EAI_SYSTEM).status, kExitFailure);
  EXPECT_EQ(resolve_failure(EAI_MEMORY).status, kExitFailure);
  EXPECT_EQ(resolve_failure(EAI_NONAME).status, kExitConfig);
  EXPECT_NE(std::string(resolve_failure(EAI_AGAIN).why).find("temporary"), std::string::npos);
  EXPECT_NE(std::string(resolve_failure(EAI_NONAME).why).find("no such host"), std::string::npos);
  EXPECT_NE(kExitFailure, kExitConfig);
}

// A data directory the unprivileged user could not reach once root is dropped is refused
// before anything is dropped, with the directory that stands in the way named; a
// reachable one (created if missing) is handed over, everything in it.
TEST(Privilege, TheDataDirIsHandedOverOnlyWhenReachable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const RunAs who{"nobody", nobody->pw_uid, nobody->pw_gid};
  char tmpl[] = "/tmp/relay-priv-XXXXXX";
  const std::string base = ::mkdtemp(tmpl);  // mode 0700, root's
  auto s = give_data_dir(base + "/data", who);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.error().reason).find("out of reach of user nobody: " + base + " (mode 0700)"), std::string::npos)
      << s.error().reason;
  ::chmod(base.c_str(), 0711);
  ASSERT_TRUE(give_data_dir(base + "/data", who).ok());
  std::ofstream(base + "/data/file") << "x";
  ::mkdir((base + "/data/sub").c_str(), 0700);
  ASSERT_TRUE(give_data_dir(base + "/data", who).ok());
  for (const char* p : {"/data", "/data/file", "/data/sub"}) {
    struct stat st{};
    ASSERT_EQ(::stat((base + p).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, who.uid) << p;
  }
  (void)std::system(("rm -rf " + base).c_str());
}

}  // namespace
}  // namespace relay::config
