// plugins/auth/password_file and password_hash against real mosquitto_passwd output.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "plugins/auth/password_file.hpp"
#include "plugins/auth/password_hash.hpp"

using namespace tidegate::auth;

namespace {

// Written by mosquitto_passwd 2.0.11 (Debian 12):
//   mosquitto_passwd -b -c FILE alice 'correct horse'
//   mosquitto_passwd -b FILE 'bob smith' 'p@ss:w0rd$'
//   mosquitto_passwd -H sha512 -b FILE carol legacy
//   mosquitto_passwd -I 1000 -b FILE dave dave-1000
//   mosquitto_passwd -b FILE émile pässwörd
//   mosquitto_passwd -b FILE emptypw ''
constexpr const char* mosquitto_file =
    "alice:$7$101$OPqgeZ89Gm8DiqGD$e1UG7eMppWy8MQUey/PgS9ZJ1TlH+uHgDM2OYT9tTlsN8rUVqf0aqwmG45NSchoYpskKV0BCsqPciSSIS2fD+Q==\n"
    "bob smith:$7$101$ETu1Yi9/Bk6MvCxt$wuUTsNsLx6ddiV+yHriZVxOtMgE4jIg8DNaCkLDBQgBf+YGNJy156QFnggS1O5O+WaD9k5O34N9bP9yttGpVGA==\n"
    "carol:$6$JHV2kwREwiCJ/xyC$lsN2L6ubxwgvycgmGI7zS6eUKYStqyGRTPrYuSwZo65WPpvfB/sERbVupxc72SYdH/MusOSoHhG1tFDwOWUPxA==\n"
    "dave:$7$1000$IdriY/gkVHuTD7mD$mkmH+okysPERh9M2HZW5R0nR+q7EHTs239pByYJH4bLBuzFlvXPuy9/XT1IsrOctpWyKBsMCc6i5fgwx7cDOWA==\n"
    "\xc3\xa9mile:$7$101$97YF723Mkp3b061u$yBWAMUuj9/jipQFPmPJgiNZEg5yqWbt3+q2+RORmlpQtBfmou4E+ELNGYvbdxMlQ1FkRJbCfR4n8+N2kxSwSIw==\n"
    "emptypw:$7$101$7dWZV+X2OZyKx5YM$et7Votx8YoI3O1yo/YDq0BNdEdWJvQ8tsTPGbRQ46QlSBFnxp91oAFiu2bdkEMhflA2zhhPZaFdT9Yaigz3ong==\n";

constexpr const char* alice_hash =
    "$7$101$OPqgeZ89Gm8DiqGD$e1UG7eMppWy8MQUey/PgS9ZJ1TlH+uHgDM2OYT9tTlsN8rUVqf0aqwmG45NSchoYpskKV0BCsqPciSSIS2fD+Q==";

std::string error_of(const std::string& text) {
  try {
    PasswordFile::parse(text, "pw.txt");
  } catch (const AuthFileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("password file: mosquitto_passwd output verifies") {
  const auto f = PasswordFile::parse(mosquitto_file, "pw.txt");
  CHECK(f.size() == 6);

  CHECK(f.verify("alice", "correct horse"));
  CHECK(f.verify("bob smith", "p@ss:w0rd$"));
  CHECK(f.verify("carol", "legacy"));      // $6$: SHA-512(password + salt)
  CHECK(f.verify("dave", "dave-1000"));    // $7$ with another iteration count
  CHECK(f.verify("\xc3\xa9mile", "p\xc3\xa4ssw\xc3\xb6rd"));
  CHECK(f.verify("emptypw", ""));

  SUBCASE("wrong passwords") {
    CHECK_FALSE(f.verify("alice", "correct horse "));
    CHECK_FALSE(f.verify("alice", "Correct horse"));
    CHECK_FALSE(f.verify("alice", ""));
    CHECK_FALSE(f.verify("carol", "legacy2"));
    CHECK_FALSE(f.verify("dave", "dave-101"));
    CHECK_FALSE(f.verify("emptypw", "x"));
    // All bytes are hashed (mosquitto would stop at the NUL).
    CHECK_FALSE(f.verify("alice", std::string("correct horse\0x", 15)));
    CHECK_FALSE(f.verify("carol", std::string("legacy\0", 7)));
  }
  SUBCASE("unknown users") {
    CHECK_FALSE(f.verify("mallory", "correct horse"));
    CHECK_FALSE(f.verify("Alice", "correct horse"));  // names are case-sensitive
    CHECK_FALSE(f.verify("", ""));
    CHECK_FALSE(f.has_user("mallory"));
    CHECK(f.has_user("bob smith"));
  }
}

TEST_CASE("password file: comments, blank lines, whitespace and CRLF") {
  const std::string text = std::string("# users\n\n   \n\t# indented comment\n") +
                           "  alice : " + alice_hash + " \r\n" +
                           "#bob:" + alice_hash + "\n";  // commented out
  const auto f = PasswordFile::parse(text, "pw.txt");
  CHECK(f.size() == 1);
  CHECK(f.verify("alice", "correct horse"));
  CHECK_FALSE(f.has_user("#bob"));
  CHECK_FALSE(f.has_user("bob"));

  // Like mosquitto's strtok: fields after the hash are ignored.
  CHECK(PasswordFile::parse(std::string("alice:") + alice_hash + ":extra", "pw").verify("alice", "correct horse"));
  // The final line needs no newline; an empty file has no users.
  CHECK(PasswordFile::parse(std::string("alice:") + alice_hash, "pw").size() == 1);
  CHECK(PasswordFile::parse("", "pw").size() == 0);
}

TEST_CASE("password file: malformed lines are refused with their line number") {
  const std::string good = std::string("alice:") + alice_hash + "\n";
  CHECK(error_of("# c\nbob\n") == "pw.txt:2: expected 'user:hash', found no ':'");
  CHECK(error_of(good + "bob:\n") == "pw.txt:2: expected 'user:hash', found only one field");
  CHECK(error_of(good + "  :" + alice_hash + "\n") == "pw.txt:2: empty user name");
  CHECK(error_of(good + "bob:   \n") == "pw.txt:2: empty password hash");
  CHECK(error_of(good + "\n\nbob:secret\n").starts_with("pw.txt:4: not a mosquitto_passwd hash"));
  CHECK(error_of(good + "bob:$7$$abc\n").starts_with("pw.txt:2: invalid iteration count 'abc'"));
  CHECK(error_of(good + "bob:$7$0$OPqgeZ89Gm8DiqGD$x\n") == "pw.txt:2: invalid iteration count '0'");
  CHECK(error_of(good + "bob:$7$101$OPqgeZ89Gm8DiqGD\n") == "pw.txt:2: password hash without the hash field");
  CHECK(error_of(good + "bob:$7$101\n") == "pw.txt:2: password hash without a salt");
  CHECK(error_of(good + "bob:$7$101$OPqgeZ89Gm8D$abcd\n") ==
        "pw.txt:2: salt decodes to 9 bytes, mosquitto requires 12");
  CHECK(error_of(good + "bob:$7$101$OPqgeZ89Gm8DiqG!$abcd\n") == "pw.txt:2: salt is not valid base64");
  CHECK(error_of(good + "bob:$7$101$OPqgeZ89Gm8DiqGD$abcd\n") ==
        "pw.txt:2: hash decodes to 3 bytes, mosquitto requires 64");
  CHECK(error_of(good + "bob:$8$abc\n").starts_with("pw.txt:2: argon2id"));
  CHECK(error_of(good + "x:y\n" + good) == "pw.txt:2: not a mosquitto_passwd hash ($7$ or $6$); plain-text "
                                           "passwords must be hashed first (tidegate-passwd, or mosquitto_passwd -U)");
  CHECK(error_of(good + "# again\n" + good) == "pw.txt:3: user 'alice' is listed again (first on line 1)");
}

TEST_CASE("password file: load reads the file or names it in the error") {
  try {
    PasswordFile::load("/nonexistent/tidegate-password-file");
    FAIL("load must throw");
  } catch (const AuthFileError& e) {
    CHECK(std::string(e.what()).starts_with("/nonexistent/tidegate-password-file: cannot open: "));
  }
}

TEST_CASE("password hash: format round trip and fresh hashes") {
  const auto h = parse_password_hash(alice_hash);
  CHECK(h.type == HashType::sha512_pbkdf2);
  CHECK(h.iterations == 101);
  CHECK(format_password_hash(h) == alice_hash);
  CHECK(password_matches(h, "correct horse"));

  const auto fresh = hash_password("s3cret");
  CHECK(fresh.iterations == mosquitto_default_iterations);
  const auto text = format_password_hash(fresh);
  CHECK(text.starts_with("$7$101$"));
  CHECK(text.size() == std::string_view("$7$101$").size() + 16 + 1 + 88);
  CHECK(password_matches(parse_password_hash(text), "s3cret"));
  CHECK_FALSE(password_matches(parse_password_hash(text), "s3cret!"));
  CHECK(hash_password("s3cret").salt != fresh.salt);  // random salt

  const auto legacy = hash_password("old", HashType::sha512);
  CHECK(format_password_hash(legacy).starts_with("$6$"));
  CHECK(password_matches(parse_password_hash(format_password_hash(legacy)), "old"));
  CHECK_THROWS_AS(hash_password("x", HashType::sha512_pbkdf2, 0), std::invalid_argument);
}

TEST_CASE("password hash: base64 codec") {
  const std::vector<std::uint8_t> bytes{'f', 'o', 'o', 'b', 'a', 'r'};
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    const std::vector<std::uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    const auto text = base64_encode(part);
    CHECK(text == std::vector<std::string>{"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"}[n]);
    CHECK(base64_decode(text) == part);
  }
  CHECK(base64_decode("Zm9vYg") == std::vector<std::uint8_t>{'f', 'o', 'o', 'b'});  // padding optional
  CHECK_FALSE(base64_decode("Zm9v YmFy").has_value());
  CHECK_FALSE(base64_decode("Zm9vY").has_value());
  CHECK_FALSE(base64_decode("Zm-v").has_value());
}
