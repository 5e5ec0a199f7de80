import os, time, sys, collections
def snap():
    d={}
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            for t in os.listdir(f'/proc/{p}/task'):
                st=open(f'/proc/{p}/task/{t}/stat').read()
                rest=st[st.rindex(')')+2:].split()
                d[(p,t)]=int(rest[11])+int(rest[12])
        except Exception: pass
    return d
names={}
def name(p):
    if p not in names:
        try: names[p]=open(f'/proc/{p}/cmdline').read().replace('\0',' ')[:70]
        except Exception: names[p]='?'
    return names[p]
end=time.time()+float(sys.argv[1])
prev=snap(); out=open('/tmp/samples.txt','w')
while time.time()<end:
    time.sleep(0.01)
    cur=snap(); ts=time.time()
    busy=[(k,cur[k]-prev.get(k,cur[k])) for k in cur if cur[k]-prev.get(k,cur[k])>0]
    if busy: out.write(f"{ts:.3f} "+" ".join(f"{k[0]}/{k[1]}:{v}" for k,v in busy)+"\n")
    prev=cur
out.close()
for p in set(k[0] for k in prev): name(p)
import json; json.dump(names, open('/tmp/names.json','w'))
