// Command lines -> redacted text, with the shipped rules and with rules of
// one's own (processors/redactor.hpp).
#include "processors/redactor.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using leaf::core::cut_utf8;
using leaf::core::default_redaction_rules;
using leaf::core::Redactor;

std::string redacted(Redactor& r, const std::string& in) {
  std::string out;
  return r.redact(in, &out) ? out : in;
}

TEST_CASE("the shipped rules redact secrets in command lines and nothing else") {
  Redactor ungated(default_redaction_rules());
  Redactor r(default_redaction_rules(), leaf::core::default_rules_gate(),
             default_redaction_rules().size());
  const std::pair<std::string, std::string> cases[] = {
      {"mysql -u root --password=hunter2 shop", "mysql -u root --password=**** shop"},
      {"mysql -u root --password hunter2 shop", "mysql -u root --password **** shop"},
      {"app --db-password=s3cr3t --port 5432", "app --db-password=**** --port 5432"},
      {"app --passwd=foo -v", "app --passwd=**** -v"},
      {"tool --token abc.def --secret=xyz --api-key K123 --apikey=K456",
       "tool --token **** --secret=**** --api-key **** --apikey=****"},
      {"aws --aws-secret-access-key=wJalrXUtnFEMI/K7MDENG", "aws --aws-secret-access-key=****"},
      {"java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar",
       "java -Djavax.net.ssl.keyStorePassword=**** -jar app.jar"},
      {"env PGPASSWORD=pgsecret psql -h db", "env PGPASSWORD=**** psql -h db"},
      {"sh -c DB_PASSWORD=x1 API_TOKEN=x2 ./run", "sh -c DB_PASSWORD=**** API_TOKEN=**** ./run"},
      {"curl https://api.example.com/v1/items?api_key=abc123&limit=10",
       "curl https://api.example.com/v1/items?api_key=****&limit=10"},
      {"git clone https://alice:ghp_s3cret@github.com/org/repo.git",
       "git clone https://alice:****@github.com/org/repo.git"},
      {"psql postgresql://admin:pa55@db:5432/app", "psql postgresql://admin:****@db:5432/app"},
      {"curl -H Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig https://api.example.com",
       "curl -H Authorization: Bearer **** https://api.example.com"},
      {"curl -H Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l x",
       "curl -H Authorization: Basic **** x"},
      {"grpcurl -H bearer abcdefgh12345678 host:443", "grpcurl -H bearer **** host:443"},
      // not secrets
      {"ls -la /tmp", "ls -la /tmp"},
      {"docker login --password-stdin -u bob", "docker login --password-stdin -u bob"},
      {"passwd alice", "passwd alice"},
      {"echo password", "echo password"},
      {"curl https://example.com/@alice/post", "curl https://example.com/@alice/post"},
      {"ssh git@github.com", "ssh git@github.com"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) {
    INFO(in);
    CHECK(redacted(r, in) == want);
    CHECK(redacted(ungated, in) == want);  // the gate never changes the result
  }
}

TEST_CASE("text that is not UTF-8 is still redacted") {
  Redactor r(default_redaction_rules());
  std::string in = "app \xff\xfe --password=\xc3\x28secret";
  CHECK(redacted(r, in) == "app \xff\xfe --password=****");
}

TEST_CASE("own rules: every capture group is masked, matches anywhere in the text") {
  Redactor r({R"((?:^|\s)-p(\S+))", R"(card=(\d{4})-\d{4}-\d{4}-(\d{4}))"});
  CHECK(redacted(r, "mysql -pSECRET -h db") == "mysql -p**** -h db");
  CHECK(redacted(r, "pay card=1234-5678-9012-3456 card=1111-2222-3333-4444") ==
        "pay card=****-5678-9012-**** card=****-2222-3333-****");
  std::string out = "untouched";
  CHECK_FALSE(r.redact("nothing here", &out));
  CHECK(out == "untouched");
}

TEST_CASE("rules that cannot work are refused with the rule and the reason") {
  CHECK_THROWS_WITH_AS(Redactor({"(unclosed"}),
                       doctest::Contains("rule 1 '(unclosed': at offset 9"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Redactor({"(a)", "password=\\S+"}),
                       doctest::Contains("rule 2 'password=\\S+' has no capture group"),
                       std::invalid_argument);
}

TEST_CASE("cut_utf8 keeps whole UTF-8 sequences") {
  CHECK(cut_utf8("abcdef", 4) == "abcd");
  CHECK(cut_utf8("abc", 4) == "abc");
  CHECK(cut_utf8("ab\xc3\xa9z", 3) == "ab");     // é is 2 bytes
  CHECK(cut_utf8("ab\xe2\x82\xac", 4) == "ab");  // € is 3 bytes
  CHECK(cut_utf8("ab\xe2\x82\xac", 5) == "ab\xe2\x82\xac");
}

}  // namespace
